/**
 * The floor for byte-carrying hops in Node: a TCP proxy that only pipes each
 * connection to 127.0.0.1:TARGET (no parsing, framing or logging). What a
 * download through one such hop, or two in series, reaches is the most any path
 * with Node processes carrying the bytes can reach on this machine.
 * Run as its own process: node pipe-proxy.ts PORT TARGET_PORT
 */
import { connect, createServer } from 'node:net'

const [port, target] = process.argv.slice(2).map(Number)
createServer((client) => {
  const upstream = connect(target, '127.0.0.1')
  client.pipe(upstream).pipe(client)
  const close = () => (client.destroy(), upstream.destroy())
  client.on('error', close)
  upstream.on('error', close)
}).listen(port, '127.0.0.1', () => console.log(`listening ${port}`))
