"""Execute one notebook with papermill; run by the runner in a child process.

``python -m reprobook.core.execute SPEC.json`` where the spec holds ``input``, ``output``,
``parameters``, ``kernel``, ``cwd`` and ``cell_timeout_s``. Running in a child process lets the
runner enforce a per-notebook time budget by ending the whole process tree (kernel included).
Exit status: 0 executed, 1 a cell raised (the output notebook is kept), 2 any other failure.
"""

from __future__ import annotations

import json
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(open(argv[0], encoding="utf-8").read())
    if spec.get("log_output"):  # --verbose: papermill logs each cell's output at INFO
        import logging

        logging.basicConfig(level=logging.INFO, format="    %(message)s", stream=sys.stderr)
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            spec["input"], spec["output"], parameters=spec["parameters"],
            kernel_name=spec["kernel"], cwd=spec["cwd"],
            execution_timeout=spec.get("cell_timeout_s"), progress_bar=False,
            log_output=bool(spec.get("log_output", False)), request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as exc:
        print(f"cell {exc.exec_count} raised {exc.ename}: {exc.evalue}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - report anything else (kernel died, timeout) to the runner
        traceback.print_exc()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
