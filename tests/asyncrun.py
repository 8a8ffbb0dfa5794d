"""Run a coroutine to completion from synchronous test code."""
import asyncio
import threading


def run_async(coro_fn, timeout: float = 180):
    """``asyncio.run(coro_fn())`` in a thread of its own and return its value (or raise its
    error): another test in this worker (Playwright's sync API) may have left an event loop
    running in the main thread. ``timeout`` in seconds."""
    out = {}

    def target():
        try:
            out["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"coroutine still running after {timeout} s")
    if "error" in out:
        raise out["error"]
    return out["value"]
