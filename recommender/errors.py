"""The error a user can fix: bad data, a bad setting, or an impossible request.

cli.py turns it into one line on stderr and exit status 1. Any other
exception is a bug and keeps its traceback.
"""

from pathlib import Path


class UserError(Exception):
    """A problem in the user's files, settings or request, located as precisely as we can."""

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.row = row
        self.column = column
        where = ", ".join(
            part
            for part in (
                str(path) if path is not None else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {problem}" if where else problem)

    def located(self, path: Path | str | None) -> "UserError":
        """The same problem, placed in ``path`` when it had no file yet."""
        if self.path is not None or path is None:
            return self
        return UserError(self.problem, path=path, row=self.row, column=self.column)


def file_row(index: int, path: Path | str | None) -> int:
    """The row a user finds a record at: spreadsheet row for CSV (header is row 1), record number otherwise."""
    return index + 2 if path is None or Path(path).suffix == ".csv" else index + 1
