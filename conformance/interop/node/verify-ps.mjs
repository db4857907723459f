// verify-ps.mjs — an independent check, with @hellocoop/httpsig and no
// code of aauth-ps, of the signature a person server put on its request to
// an access server (draft-hardt-oauth-aauth-protocol-11 §PS-to-AS token
// request: Signature-Key sig=jwks_uri;id="<PS issuer>";dwk="aauth-person.json";kid=…,
// covering content-type and content-digest). The PS's key is resolved the
// way an AS would: {id}/.well-known/{dwk} → jwks_uri → kid.
//
// Usage: node --import ./resolve.mjs verify-ps.mjs request.json
// where request.json is {"method","authority","path","query","headers":{name:[values]},"body"}
// as the access server received it. Environment as for agent.mjs
// (NODE_EXTRA_CA_CERTS, AAUTH_RESOLVE).
//
// Output: one JSON line {"verified":…,"keyType":…,"jwks_uri":{id,kid,dwk},"error":…}.

import { readFileSync } from 'node:fs'
import { verify } from '@hellocoop/httpsig'

const file = process.argv[2]
if (!file) {
    process.stderr.write('usage: verify-ps.mjs request.json\n')
    process.exit(2)
}
const req = JSON.parse(readFileSync(file, 'utf8'))
const headers = {}
for (const [k, v] of Object.entries(req.headers)) headers[k] = v.length === 1 ? v[0] : v
try {
    const r = await verify({ method: req.method, authority: req.authority, path: req.path, query: req.query || undefined,
        headers, body: req.body }, { requireContentDigest: true })
    process.stdout.write(JSON.stringify({ verified: r.verified, keyType: r.keyType, jwks_uri: r.jwks_uri, error: r.error }) + '\n')
} catch (e) {
    process.stdout.write(JSON.stringify({ verified: false, error: String(e && e.message || e) }) + '\n')
}
