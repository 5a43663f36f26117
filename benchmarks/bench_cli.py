"""How long `import hyperbox.kernel`, `hbk plugins` and `hbk --help` take with every plugin installed
(target: 0.2 s each).

Measured side by side with a bare interpreter start, so the CLI's own share is visible:

    .venv/bin/python benchmarks/bench_cli.py
"""

import statistics
import subprocess
import sys
import time


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 15) -> None:
    python = sys.executable
    baseline = wall([python, "-c", "pass"], repeats)
    print(f"{'command':<28} {'median s':>9} {'minus bare python':>18}")
    print(f"{'python -c pass':<28} {baseline:>9.3f} {'':>18}")
    seconds = wall([python, "-c", "import hyperbox.kernel"], repeats)
    print(f"{'import hyperbox.kernel':<28} {seconds:>9.3f} {seconds - baseline:>18.3f}")
    for args in (["plugins"], ["plugins", "--json"], ["--help"], ["list"]):
        seconds = wall([python, "-m", "hyperbox.kernel.cli", *args], repeats)
        print(f"{'hbk ' + ' '.join(args):<28} {seconds:>9.3f} {seconds - baseline:>18.3f}")


if __name__ == "__main__":
    main()
