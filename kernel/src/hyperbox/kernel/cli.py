"""``hbk``: the Hyperbox command line. Sub-commands come from plugins (built-ins included).

Global options come before the command: ``hbk [-p no:NAME] [--strict-plugins] [--debug] COMMAND ...``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from hyperbox.kernel import plugins
from hyperbox.kernel.errors import HyperboxError
from hyperbox.kernel.registry import unknown_name_message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbk",
        description="Hyperbox: neural architecture search, hyper-parameter optimisation and data augmentation search.",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    parser.add_argument("--version", action="store_true", help="print the kernel and plugin versions")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        default=[],
        metavar="no:NAME",
        help="block plugin NAME before it is imported (repeatable)",
    )
    parser.add_argument("--strict-plugins", action="store_true", help="fail if a plugin cannot be loaded")
    parser.add_argument("command", nargs="?", help="the command to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _blocked(options: Sequence[str]) -> list[str]:
    names = []
    for option in options:
        if not option.startswith("no:") or not option[3:]:
            raise HyperboxError(f"-p {option}: expected no:NAME")
        names.append(option[3:])
    return names


def _print_help(parser: argparse.ArgumentParser, manager: plugins.PluginManager) -> None:
    parser.print_usage()
    print(f"\n{parser.description}\n\ncommands:")
    for component in manager.registry.components("commands"):
        print(f"  {component.name:<12} {component.summary}")
    print("\noptions:")
    for action in parser._actions:
        if action.option_strings:
            print(f"  {', '.join(action.option_strings):<20} {action.help}")
    print("\nRun 'hbk COMMAND --help' for a command's options.")


def _print_versions(manager: plugins.PluginManager) -> None:
    from importlib.metadata import version

    print(f"hyperbox-kernel {version('hyperbox-kernel')}")
    for info in manager.infos():
        if info.distribution:
            print(f"{info.distribution} {info.version}")


def _stop_on_sigterm() -> None:
    """SIGTERM (a scheduler's or ``kill``'s) stops a run the way Ctrl-C does, so that it resumes."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _short_warning(message, category, filename, lineno, line=None) -> str:
    return f"hbk: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    _stop_on_sigterm()
    warnings.formatwarning = _short_warning
    parser = _parser()
    options = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        manager = plugins.configure(disabled=_blocked(options.plugin_options), strict=options.strict_plugins or None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", plugins.PluginLoadWarning)
            manager.registry
        for info in manager.infos():
            if info.status == "broken":
                print(f"hbk: warning: plugin {info.name!r} failed to load: {info.error}", file=sys.stderr)
        if options.version:
            _print_versions(manager)
            return 0
        if options.help or not options.command:
            _print_help(parser, manager)
            return 0 if options.help else 2
        commands = manager.registry.names("commands")
        if options.command not in commands:
            raise HyperboxError(unknown_name_message("command", options.command, commands))
        command = manager.registry.get("commands", options.command).load()
        return int(command(options.args) or 0)
    except KeyboardInterrupt:
        print("hbk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as error:
        if not _stdout_closed():
            return _report(error, options.debug)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the reader went away (| head)
        return 0
    except Exception as error:
        return _report(error, options.debug)


def _report(error: Exception, debug: bool) -> int:
    """One line on stderr (the traceback with ``--debug``); exit 2 for bad input, 1 otherwise."""
    if debug:
        raise error
    message = str(error) if isinstance(error, HyperboxError) else f"{type(error).__name__}: {error}"
    print(f"hbk: error: {message.splitlines()[0] if message else type(error).__name__}", file=sys.stderr)
    return 2 if isinstance(error, HyperboxError) else 1


def _stdout_closed() -> bool:
    """Whether the process reading our output went away (``hbk plugins --json | head``): the pipe
    of stdout reports an error (a broken pipe elsewhere, a database socket, is a real error)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no file descriptor
        return True


if __name__ == "__main__":
    sys.exit(main())
