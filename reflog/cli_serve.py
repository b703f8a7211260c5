"""``reflog serve``: run N brokers with Kafka listeners on loopback until interrupted."""

from __future__ import annotations

import argparse
import json
import signal
import sys

import trio

from reflog.errors import InvalidConfigError
from reflog.kafka.overrides import parse_overrides
from reflog.kafka.serve import KafkaCluster, open_kafka_cluster
from reflog.kafka.server import server_ssl_context
from reflog.kafka.transfer import TransferMode
from reflog.kafka.versions import ApiKey


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", type=int, default=3, help="number of brokers (default 3)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=9092,
        help="broker i listens on PORT+i-1; 0 picks free ports (default 9092)",
    )
    parser.add_argument("--storage", choices=["sim", "os"], default="sim", help="simulated or real files")
    parser.add_argument("--data-dir", help="log directories (required with --storage os)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated storage and network")
    parser.add_argument(
        "--default-replication-factor",
        type=int,
        default=1,
        help="for auto-created topics (Kafka's default 1)",
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS instead of plaintext")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-ca", help="PEM CA bundle: require client certificates signed by it")
    parser.add_argument(
        "--transfer",
        choices=[TransferMode.ZERO_COPY.value, TransferMode.COPY.value],
        default=TransferMode.ZERO_COPY.value,
        help="Fetch path of plaintext listeners (default zero-copy; TLS listeners always copy)",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a broker config by Kafka's name, as kafka-server-start.sh --override takes it "
        "(fetch.max.bytes, connections.max.idle.ms, queued.max.request.bytes, replica.lag.time.max.ms, "
        "broker.session.timeout.ms, auto.create.topics.enable, ...); repeatable",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then stop every broker cleanly; returns the exit status.

    The signals are received by trio (so SIGINT works even when a shell started the process in
    the background with SIGINT ignored); each broker then does a controlled shutdown, flushes
    its logs and writes its clean-shutdown marker, and the process exits 0 (2 on a bad option).
    """
    if args.storage == "os" and not args.data_dir:
        print("reflog serve: --storage os needs --data-dir", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("reflog serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        overrides = parse_overrides(args.override).keywords()
    except InvalidConfigError as exc:
        print(f"reflog serve: {exc}", file=sys.stderr)
        return 2
    if "default_replication_factor" not in overrides:
        overrides["default_replication_factor"] = args.default_replication_factor
    context = server_ssl_context(args.tls_cert, args.tls_key, args.tls_ca) if args.tls_cert else None

    served: list[KafkaCluster] = []

    async def main() -> None:
        async with open_kafka_cluster(
            args.brokers,
            host=args.host,
            port=args.port,
            storage=args.storage,
            data_dir=args.data_dir,
            seed=args.seed,
            ssl_context=context,
            transfer=TransferMode(args.transfer),
            **overrides,
        ) as kafka:
            served.append(kafka)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                scheme = "SSL" if context is not None else "PLAINTEXT"
                print(f"bootstrap: {kafka.bootstrap} ({scheme}, {args.brokers} brokers)", flush=True)
                async for signum in signals:
                    name = signal.Signals(signum).name
                    print(f"reflog serve: {name}: shutting down cleanly", file=sys.stderr, flush=True)
                    break
            await kafka.shutdown()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    except BaseExceptionGroup as group:  # Ctrl-C may arrive wrapped by trio's nurseries
        _, rest = group.split(KeyboardInterrupt)
        if rest is not None:
            raise
    finally:
        for kafka in served:  # the transfer-path metrics of every listener (PERF-1)
            metrics = {broker: m.as_dict() for broker, m in kafka.transfer.items()}
            print("transfer metrics: " + json.dumps(metrics, sort_keys=True), file=sys.stderr, flush=True)
            versions = {f"{ApiKey(k).name} v{v}": n for (k, v), n in sorted(kafka.stats.by_api.items())}
            print("requests by version: " + json.dumps(versions), file=sys.stderr, flush=True)  # PRO-64
    return 0


__all__ = ["add_arguments", "run"]
