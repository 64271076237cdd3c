"""A logger for the tests that stop a run between intervals, as Ctrl-C does."""


class StopAt:
    """A logger that presses Ctrl-C once the given interval has been logged."""

    def __init__(self, interval: int):
        self.interval = interval

    def log(self, record: dict) -> None:
        if record["interval"] == self.interval:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass
