// resolve.mjs — preloaded (node --import) into @hellocoop/mockin by the
// interop run: server identifiers carry no port, so the conformance
// suite's agent provider (https://ap.test and friends) is reached on
// loopback. AAUTH_RESOLVE is "host=ip:port,…"; fetch to such a host
// connects to ip:port with TLS for the host name (trust comes from
// NODE_EXTRA_CA_CERTS). Every other URL goes to the real fetch.
import https from 'node:https'

const table = new Map((process.env.AAUTH_RESOLVE || '').split(',').filter(Boolean).map((e) => {
    const [host, addr] = e.split('=')
    const i = addr.lastIndexOf(':')
    return [host, { ip: addr.slice(0, i), port: Number(addr.slice(i + 1)) }]
}))
const realFetch = globalThis.fetch

globalThis.fetch = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
    const to = url.protocol === 'https:' && !url.port ? table.get(url.hostname) : undefined
    if (!to) return realFetch(input, init)
    const headers = { ...(init.headers || {}), host: url.hostname }
    return new Promise((resolve, reject) => {
        const req = https.request({ host: to.ip, port: to.port, servername: url.hostname, path: url.pathname + url.search,
            method: init.method || 'GET', headers, timeout: 10000 }, (res) => {
            const chunks = []
            res.on('data', (c) => chunks.push(c))
            res.on('end', () => {
                const h = new Headers()
                for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : String(v))
                resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }))
            })
        })
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.on('error', reject)
        if (init.body) req.write(init.body)
        req.end()
    })
}
