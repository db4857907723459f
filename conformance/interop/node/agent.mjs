// An independent AAuth agent (draft-hardt-oauth-aauth-protocol-11) that
// signs every request with @hellocoop/httpsig and shares no code with
// aauth-ps. It obtains an auth token the three-party way:
//
//   agent token (from the agent provider's test enrolment endpoint)
//   → person token (PS person_token_endpoint, deferred while the person consents)
//   → the resource challenges with requirement=auth-token and a resource token
//   → auth token (PS auth_token_endpoint, deferred while the person consents)
//   → the resource answers 200 to the auth token.
//
// Usage: node agent.mjs --ps https://ps.test --ap https://ap.test \
//          --resource https://rs.test/api/calendar [--scope "calendar.read"]
//
// Environment: NODE_EXTRA_CA_CERTS trusts the test CA; AAUTH_RESOLVE maps
// test host names to loopback addresses ("ps.test=127.0.0.1:4431,...").
//
// Output: one JSON object per line on stdout. {"event":"interaction",...}
// whenever the person must act at the PS (url, code, step), and at the end
// {"event":"done","auth_token":...,"resource_status":200,"resource_body":...}.
// Anything wrong: a message on stderr and exit status 1.

import https from 'node:https'
import { generateKeyPairSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import { fetch as signedFetch, parseDictionary, Token, calculateThumbprint } from '@hellocoop/httpsig'

const { values: args } = parseArgs({
    options: {
        ps: { type: 'string' },
        ap: { type: 'string' },
        resource: { type: 'string' },
        scope: { type: 'string', default: '' },
        justification: { type: 'string', default: 'The Node interop agent reads your calendar to find a free slot.' },
    },
})
for (const need of ['ps', 'ap', 'resource']) {
    if (!args[need]) fail(`--${need} is required`)
}

// Test host names → loopback addresses.
const resolve = new Map(
    (process.env.AAUTH_RESOLVE || '')
        .split(',')
        .filter(Boolean)
        .map((pair) => {
            const [host, addr] = pair.split('=')
            return [host, addr]
        }),
)

function fail(msg) {
    process.stderr.write(`node agent: ${msg}\n`)
    process.exit(1)
}

// log reports progress on stderr (the test shows it when something fails).
function log(msg) {
    process.stderr.write(`node agent: ${msg}\n`)
}

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n')
}

// send performs one HTTPS request with Node's own client, dialling the
// mapped loopback address while TLS (SNI, certificate name) and the Host
// header keep the URL's name. The system CAs plus NODE_EXTRA_CA_CERTS apply.
function send(url, { method = 'GET', headers = new Headers(), body } = {}) {
    const u = new URL(url)
    const mapped = resolve.get(u.host) || resolve.get(u.hostname)
    let host = u.hostname
    let port = u.port || 443
    if (mapped) {
        const i = mapped.lastIndexOf(':')
        host = mapped.slice(0, i)
        port = Number(mapped.slice(i + 1))
    }
    const hdrs = { host: u.host }
    for (const [k, v] of headers) hdrs[k] = v
    if (body !== undefined) hdrs['content-length'] = Buffer.byteLength(body)
    log(`${method} ${url}`)
    return new Promise((ok, ko) => {
        const req = https.request(
            { host, port, servername: u.hostname, method, path: u.pathname + u.search, headers: hdrs, timeout: 60_000 },
            (res) => {
                const chunks = []
                res.on('data', (c) => chunks.push(c))
                res.on('end', () => {
                    const text = Buffer.concat(chunks).toString('utf8')
                    let json
                    try {
                        json = JSON.parse(text)
                    } catch {
                        json = undefined
                    }
                    log(`  → ${res.statusCode} ${res.headers['aauth-requirement'] || ''} ${text.slice(0, 200)}`)
                    ok({ status: res.statusCode, headers: res.headers, text, json })
                })
            },
        )
        req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout`)))
        req.on('error', ko)
        if (body !== undefined) req.write(body)
        req.end()
    })
}

// The agent's key: Ed25519, generated here; the JWK carries the fully
// specified alg the Signature-Key draft asks for.
const { privateKey } = generateKeyPairSync('ed25519')
const privateJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'Ed25519' }
const publicJwk = { kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, alg: 'Ed25519' }
const thumbprint = await calculateThumbprint(publicJwk)

// signed sends a request signed by @hellocoop/httpsig under the jwt scheme
// with token (agent, person or auth token). The library computes
// Content-Digest and the signature; dryRun hands back the headers so the
// request goes through send (loopback mapping).
async function signed(url, token, { method = 'GET', json, headers = {} } = {}) {
    const body = json === undefined ? undefined : JSON.stringify(json)
    const h = { ...headers }
    if (body !== undefined) h['content-type'] = 'application/json'
    const { headers: sigHeaders } = await signedFetch(url, {
        method,
        headers: h,
        body,
        signingKey: privateJwk,
        signatureKey: { type: 'jwt', jwt: token },
        dryRun: true,
    })
    return send(url, { method, headers: sigHeaders, body })
}

// requirement parses AAuth-Requirement (a Structured Field Dictionary).
function requirement(res) {
    const raw = res.headers['aauth-requirement']
    if (!raw) return null
    const dict = parseDictionary(raw)
    const member = dict.get('requirement')
    if (!member) return null
    const [value, params] = member
    const out = { requirement: value instanceof Token ? value.toString() : String(value) }
    for (const [k, v] of params) out[k] = typeof v === 'string' ? v : String(v)
    return out
}

function decodeJWT(jwt) {
    const [h, p] = jwt.split('.')
    return {
        header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
        claims: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    }
}

// deferred follows a 202 (P§deferred-responses): report an interaction to
// the person, then poll the Location with Prefer: wait until the answer.
async function deferred(res, url, token, step) {
    let location = null
    for (let polls = 0; res.status === 202; polls++) {
        if (polls > 40) fail(`${step}: still pending after ${polls} polls`)
        location = res.headers.location ? new URL(res.headers.location, url).href : location
        if (!location) fail(`${step}: 202 without Location`)
        const req = requirement(res)
        if (req && req.requirement === 'interaction' && req.url && polls === 0) {
            emit({ event: 'interaction', step, url: req.url, code: req.code })
        }
        res = await signed(location, token, { headers: { prefer: 'wait=30' } })
    }
    return res
}

// 1. Agent token from the agent provider (its test enrolment endpoint).
const enrol = await send(new URL('/enroll', args.ap).href, {
    method: 'POST',
    headers: new Headers({ 'content-type': 'application/json' }),
    body: JSON.stringify({ jwk: publicJwk, sub: `aauth:node-${thumbprint.slice(0, 8).toLowerCase()}@${new URL(args.ap).hostname}` }),
})
if (enrol.status !== 200 || !enrol.json?.agent_token) fail(`enrolment: ${enrol.status} ${enrol.text}`)
const agentToken = enrol.json.agent_token

// 2. The PS's metadata.
const psMeta = await send(new URL('/.well-known/aauth-person.json', args.ps).href)
if (psMeta.status !== 200 || psMeta.json?.issuer !== args.ps) fail(`PS metadata: ${psMeta.status} ${psMeta.text}`)
const { person_token_endpoint: personEndpoint, auth_token_endpoint: authEndpoint } = psMeta.json
if (!personEndpoint || !authEndpoint) fail('PS metadata lacks person_token_endpoint or auth_token_endpoint')

// 3. Person token for the resource.
const resourceOrigin = new URL(args.resource).origin
let res = await signed(personEndpoint, agentToken, {
    method: 'POST',
    json: { resource: resourceOrigin, capabilities: ['interaction'] },
})
res = await deferred(res, personEndpoint, agentToken, 'person')
const personToken = res.json?.person_token
if (res.status !== 200 || !personToken) fail(`person token: ${res.status} ${res.text}`)

// 4. The resource challenges the person token with a resource token.
const target = args.scope ? `${args.resource}?scope=${encodeURIComponent(args.scope)}` : args.resource
res = await signed(target, personToken)
const challenge = requirement(res)
if (res.status !== 401 || challenge?.requirement !== 'auth-token' || !challenge['resource-token']) {
    fail(`resource challenge: ${res.status} ${JSON.stringify(res.headers)} ${res.text}`)
}
const resourceToken = challenge['resource-token']
// P§resource-challenge-verification, the checks an agent can make alone.
const rt = decodeJWT(resourceToken)
if (rt.header.typ !== 'aa-resource+jwt') fail(`resource token typ ${rt.header.typ}`)
if (rt.claims.iss !== resourceOrigin) fail(`resource token iss ${rt.claims.iss}`)
if (rt.claims.agent_jkt !== thumbprint) fail('resource token agent_jkt is not this agent key')
if (rt.claims.aud !== args.ps) fail(`resource token aud ${rt.claims.aud} is not my PS`)

// 5. Auth token from the PS.
res = await signed(authEndpoint, agentToken, {
    method: 'POST',
    json: {
        resource_token: resourceToken,
        presented_token: personToken,
        capabilities: ['interaction'],
        justification: args.justification,
    },
})
res = await deferred(res, authEndpoint, agentToken, 'auth')
const authToken = res.json?.auth_token
if (res.status !== 200 || !authToken) fail(`auth token: ${res.status} ${res.text}`)

// 6. The resource accepts it.
res = await signed(target, authToken)
if (res.status !== 200) fail(`resource with the auth token: ${res.status} ${res.text}`)
emit({ event: 'done', auth_token: authToken, agent_jkt: thumbprint, resource_status: res.status, resource_body: res.json })
