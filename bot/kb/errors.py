"""Errors of the knowledge base: import problems (file, row, column, reason) and store failures.

An import collects every row-level problem first and then raises one `KBImportError` listing
them all, so an editor can fix a spreadsheet in one pass. `KBImportError` is a `ProjectErrors`,
so the CLI prints it like any other batch of project problems.
"""

from __future__ import annotations

from bot.errors import Location, ProjectError, ProjectErrors, ZhikeError


class KBIssue(ProjectError):
    """One problem in a knowledge-base file.

    `row` is the 1-based line for YAML and JSONL and the spreadsheet row number (header = 1) for
    CSV and XLSX; 0 when the problem concerns the whole file. `column` is the column header or
    key as written in the file ("" when not tied to one).
    """

    def __init__(self, zh: str, en: str, file: str, row: int = 0, column: str = "") -> None:
        super().__init__(zh, en, Location(file, row))
        self.file, self.row, self.column = file, row, column

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}" if self.row else self.file
        if self.column:
            where += f" [{self.column}]"
        return f"{where}: {self.zh} / {self.en}"


class KBImportError(ProjectErrors):
    """A knowledge-base file could not be imported; nothing was imported."""

    def __init__(self, issues: list[KBIssue]) -> None:
        self.errors: list[ProjectError] = list(issues)
        self.issues = issues
        n = len(issues)
        head = f"知识库文件有 {n} 处问题，未导入任何条目 / knowledge base file has {n} problem(s), nothing imported"
        self.headline = head
        ZhikeError.__init__(self, "\n".join([head, *(str(i) for i in issues)]))


class IssueLog:
    """Collects the problems of one file, then raises them together."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[KBIssue] = []

    def add(self, zh: str, en: str, row: int = 0, column: str = "") -> None:
        self.issues.append(KBIssue(zh, en, self.file, row, column))

    def fatal(self, zh: str, en: str, row: int = 0, column: str = "") -> KBImportError:
        """The error to raise when the file cannot be read any further."""
        self.add(zh, en, row, column)
        return KBImportError(self.issues)

    def raise_if_any(self) -> None:
        """Raise every problem so far, ordered by row (file-level problems first)."""
        if self.issues:
            raise KBImportError(sorted(self.issues, key=lambda i: i.row))


class KBStoreError(ZhikeError):
    """The knowledge-base store refused or failed an operation."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")
