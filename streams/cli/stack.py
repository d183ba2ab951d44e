"""``relscore stack up|down|status``: the local Kafka and Redis of the laptop kit."""

from __future__ import annotations

import argparse

from streams.cli.context import EXIT_UNAVAILABLE, CliError, load_stack_settings


def cmd_stack(args: argparse.Namespace) -> int:
    from streams.laptop.stack import StackError, stack_down, stack_status, stack_up

    settings = load_stack_settings()
    try:
        if args.action == "up":
            status = stack_up(settings, echo=print)
        elif args.action == "down":
            stack_down(settings, wipe=args.wipe, echo=print)
            status = stack_status(settings)
        else:
            status = stack_status(settings)
    except StackError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    state = {True: "up", False: "down"}
    print(f"kafka  {state[status.kafka_up]:4}  {status.kafka_bootstrap}")
    print(f"redis  {state[status.redis_up]:4}  {status.redis_url}")
    print(f"run dir {status.run_dir}")
    if args.action == "status" and not (status.kafka_up and status.redis_up):
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = sub.add_parser("stack", help="local Kafka (KRaft) + Redis for development and tests")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.add_argument("--wipe", action="store_true", help="with down: delete Kafka/Redis data")
    stack.set_defaults(func=cmd_stack)
