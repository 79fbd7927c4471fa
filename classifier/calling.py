"""How burst calls the user's classifier, and what it takes back.

``job.classifier`` names a function. It gets the frame as its first argument, ``slowness``
only if it has a parameter of that name, and ``job.classifier_args`` as keyword arguments.
It returns one value per row: a Series, an array or a list, or a frame (the one it was given,
or another) with the result column (``job.result_column``).
"""

import importlib
import inspect
from dataclasses import dataclass, field
from functools import cache

import numpy as np

RESULT_COLUMN = "CLASSIFICATION"  # job.result_column's default in the schema
SLOWNESS = 1000  # job.slowness' default in the schema
SHOWN_CHARS = 120
KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
BURST_CALLS = (
    "burst passes the frame, slowness=job.slowness if it has a parameter of that name,"
    " and job.classifier_args as keyword arguments"
)
EXPECTED = "a Series, an array or a list of one value per row, or a frame with a {!r} column"


class ClassifierError(RuntimeError):
    """The user's classifier raised; names the batch it raised on."""

    def __init__(self, first_line: int, detail: str):
        super().__init__(first_line, detail)
        self.first_line = first_line
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"the classifier raised on the batch starting at input line {self.first_line}:"
            f" {self.detail}"
        )


class Unusable(ValueError):
    """The classifier cannot be imported, called as its signature allows, or what it returned
    is not one value per row: the same on every batch, so never a row's fault."""


def raised(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


@cache
def load_classifier(path: str):
    """``module:function`` → the function."""
    module_name, _, function_name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # the user's module runs as it is imported
        why = str(error) if isinstance(error, ImportError | AttributeError) else raised(error)
        raise Unusable(f"job.classifier {path!r} cannot be imported: {why}") from error
    if not callable(function):
        raise Unusable(f"job.classifier {path!r} is not a function")
    return function


@dataclass(frozen=True)
class Call:
    """How a batch's frame is classified: the function, its settings, the result column."""

    classifier: str
    slowness: int = SLOWNESS
    args: dict = field(default_factory=dict)
    result_column: str = RESULT_COLUMN

    def keywords(self) -> dict:
        """The keyword arguments of the call; Unusable if the signature does not take them."""
        function = load_classifier(self.classifier)
        if "slowness" in self.args:
            raise Unusable("job.classifier_args: may not hold 'slowness'; set job.slowness")
        keywords = dict(self.args)
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):  # no signature to read (some built-ins): try the call
            return keywords
        parameter = signature.parameters.get("slowness")
        if parameter and parameter.kind in KEYWORD_KINDS:
            keywords["slowness"] = self.slowness
        try:
            signature.bind(None, **keywords)
        except TypeError as error:
            raise Unusable(
                f"job.classifier {self.classifier!r} takes {_cut(str(signature))}, which does not"
                f" fit the call {_cut(self._shown(keywords))}: {error} ({BURST_CALLS})"
            ) from None
        return keywords

    def values(self, frame):
        """The function's values for ``frame``'s rows, in order; it gets a copy to change."""
        import pandas as pd  # only where frames are: the command line starts without it

        returned = load_classifier(self.classifier)(frame.copy(), **self.keywords())
        values = returned
        if isinstance(returned, pd.DataFrame):
            found = returned.columns == self.result_column
            values = returned.iloc[:, found.argmax()] if found.sum() == 1 else None
        if isinstance(values, pd.Series | pd.Index):
            values = values.to_numpy()
        if isinstance(values, tuple):
            values = list(values)
        if isinstance(values, np.ndarray) and values.ndim == 1 or isinstance(values, list):
            if len(values) == len(frame):
                return values
        described = _described(returned, self.result_column)
        forgot = "; a function that changes the frame it is given must return it"
        raise Unusable(
            f"job.classifier {self.classifier!r} returned {described} for a frame of"
            f" {len(frame)} rows; expected {EXPECTED.format(self.result_column)}"
            + (forgot if returned is None else "")
        )

    def _shown(self, keywords: dict) -> str:
        given = "".join(f", {name}={value!r}" for name, value in keywords.items())
        return f"{self.classifier.partition(':')[2]}(frame{given})"


def _described(value, result_column: str) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        columns = _cut(", ".join(map(str, value.columns)))
        found = (value.columns == result_column).sum()
        if found == 1:
            return f"a DataFrame of {len(value)} rows"
        problem = f"{found} {result_column!r} columns" if found else f"no {result_column!r} column"
        return f"a DataFrame with {problem} (its columns: {columns})"
    if isinstance(value, pd.Series | pd.Index | list | tuple):
        return f"a {type(value).__name__} of {len(value)} values"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__} ({_cut(repr(value))})"
