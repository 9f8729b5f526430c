"""Command line mirroring `tnt`: predict, models, health."""
import argparse
import json
import os
import sys

from .client import Client, RPCError, tls_context
from .proto import models_pb2


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tnt_client", description="TNTServe client")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify images")
    predict.add_argument("--server", required=True, help="HOST:PORT")
    predict.add_argument("--model", default="")
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--timeout", type=float, default=30.0, help="seconds")
    predict.add_argument("--json", action="store_true", help="PaddleClas's predictor JSON")
    predict.add_argument("images", nargs="+")
    models = commands.add_parser("models", help="list the server's models")
    models.add_argument("--server", required=True)
    health = commands.add_parser("health", help="exit 0 only when SERVING")
    health.add_argument("--server", required=True)
    health.add_argument("--service", default="")
    health.add_argument("--timeout", type=float, default=3.0)
    for command in (predict, models, health):
        command.add_argument("--tls", action="store_true", help="TLS, trusting the system's CAs (implied by --tls-ca, --tls-cert)")
        command.add_argument("--tls-ca", help="PEM file of the CAs the server's certificate must be signed by")
        command.add_argument("--tls-cert", help="PEM client certificate (mutual TLS)")
        command.add_argument("--tls-key", help="PEM key of --tls-cert")
        command.add_argument("--tls-server-name", help="the name the server's certificate must carry")
        command.add_argument("--token", default=os.environ.get("TNT_TOKEN") or None, help="sent as 'authorization: Bearer <token>' (or TNT_TOKEN)")
    args = parser.parse_args(argv)
    tls = tls_context(args.tls_ca, args.tls_cert, args.tls_key) if args.tls or args.tls_ca or args.tls_cert else None
    connection = dict(tls=tls, server_name=args.tls_server_name, token=args.token)

    try:
        if args.command == "health":
            with Client(args.server, timeout=args.timeout, **connection) as client:
                status = client.health(args.service)
            print(status)
            return 0 if status == "SERVING" else 1
        with Client(args.server, **connection) as client:
            if args.command == "models":
                for m in client.models():
                    state = models_pb2.ModelInfo.State.Name(m.state).removeprefix("STATE_").lower()
                    reason = f" ({m.state_reason})" if m.state_reason else ""
                    print(f"{m.name}\t{m.architecture}\t{list(m.input_shape)}\t{m.classes} classes\t{m.parameters} parameters\t{state}{reason}")
                return 0
            images = [open(path, "rb").read() for path in args.images]
            results = client.predict(images, model=args.model, top_k=args.top_k, timeout=args.timeout)
    except RPCError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1 if args.command == "health" else 2
    if args.json:
        entries = [{"class_ids": list(r.class_ids), "file_name": path, "label_names": list(r.label_names),
                    "scores": list(r.scores)} for r, path in zip(results, args.images)]
        print(json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    else:
        for result, path in zip(results, args.images):
            print(path)
            for i, class_id in enumerate(result.class_ids):
                label = f"  {result.label_names[i]}" if i < len(result.label_names) else ""
                print(f"  {class_id:5d}  {result.scores[i]:.5f}{label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
