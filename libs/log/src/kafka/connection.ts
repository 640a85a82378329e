import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory, KafkaConfig, SASLOptions } from 'kafkajs';
import type { BrokerConnection } from '../settings';

/**
 * kafkajs's own socket factory, plus TCP_NODELAY. Like kafkajs's, it opens TLS
 * when kafkajs passes `ssl` (the `ssl` option, see {@link kafkaSecurityConfig}),
 * naming a broker given by host name for SNI unless `ssl.servername` says otherwise. Without it Nagle's algorithm
 * holds a small request (a fetch, a one-chunk produce) behind an unacknowledged
 * one until the peer's delayed ACK fires: ~40 ms added to a hop under load.
 */
export const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};

/**
 * kafkajs's `ssl` and `sasl` options for a connection. `ssl` goes to
 * `tls.connect` through the socket factory; only the fields given are set, so
 * Node's defaults (its CA bundle, the broker's host as the name) hold for the rest.
 */
export function kafkaSecurityConfig(connection: BrokerConnection): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const config: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (connection.tls === true) config.ssl = true;
  else if (connection.tls) {
    const { ca, cert, key, servername } = connection.tls;
    config.ssl = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(servername !== undefined ? { servername } : {}),
    };
  }
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    const sasl: SASLOptions = { mechanism, username, password };
    config.sasl = sasl;
  }
  return config;
}
