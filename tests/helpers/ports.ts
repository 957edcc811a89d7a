import net from 'node:net';

/**
 * A loopback port nothing listens on right now, as the kernel hands one out. Never a random
 * number: a random port in the ephemeral range can be another test's outgoing connection.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
