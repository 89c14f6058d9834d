"""The UCR/UEA `.ts` format (as aeon and sktime write it): equal-length classification sets.

A file holds header lines (`@problemName`, `@timeStamps false`, `@missing`,
`@univariate`, `@dimensions D`, `@equalLength true`, `@seriesLength T`,
`@classLabel true <label> ...`; tags in any case), comment lines starting
with `#` (or `%`, as some archive files have), then `@data` and one case
per line: dimensions separated by `:`, values within a dimension by `,`, the
class label last. `@problemName` is not read (some files repeat it). What is
refused, each with the file and line: time stamps, unequal lengths, missing
values (`?`, NaN), non-numeric values, a header that disagrees with the data,
a regression set or one without `@classLabel true <labels>`, labels that
`@classLabel` does not declare, unknown or repeated header tags.
"""
from __future__ import annotations

import math
from typing import Iterator, TextIO

import numpy as np

# Known header tags, lower case, with their usual spelling for messages.
_TAGS = {"problemname": "@problemName", "timestamps": "@timeStamps", "missing": "@missing",
         "univariate": "@univariate", "dimensions": "@dimensions", "equallength": "@equalLength",
         "serieslength": "@seriesLength", "classlabel": "@classLabel", "targetlabel": "@targetLabel"}
_BOOLEANS = {"true": True, "false": False}

# {tag: (value, line number)}
_Header = dict[str, tuple[object, int]]


def _error(path: str, number: int, message: str) -> ValueError:
    return ValueError(f"{path}, line {number}: {message}")


def _content(f: TextIO) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of every line that is neither blank nor a `#` or `%` comment."""
    for number, line in enumerate(f, start=1):
        line = line.strip()
        if line and not line.startswith(("#", "%")):
            yield number, line


def _boolean(path: str, number: int, tag: str, text: str) -> bool:
    if text.lower() not in _BOOLEANS:
        raise _error(path, number, f"{_TAGS[tag]} {text!r}; expected true or false")
    return _BOOLEANS[text.lower()]


def _value(path: str, number: int, tag: str, text: str) -> object:
    """The value of one header line other than @problemName: a bool, a positive count or the declared labels."""
    if tag in ("timestamps", "missing", "univariate", "equallength"):
        return _boolean(path, number, tag, text)
    if tag in ("dimensions", "serieslength"):
        if not text.isdigit() or int(text) < 1:
            raise _error(path, number, f"{_TAGS[tag]} {text!r}; expected a positive integer")
        return int(text)
    if tag == "targetlabel":
        raise _error(path, number, "@targetLabel marks a regression set, which is not supported; expected a "
                                   "classification set with @classLabel true <label> ...")
    flag, *labels = text.split() or [""]  # @classLabel, the one tag left
    if not _boolean(path, number, tag, flag):
        raise _error(path, number, "@classLabel false: the set has no class labels; expected a classification "
                                   "set with @classLabel true <label> ...")
    if not labels:
        raise _error(path, number, "@classLabel true lists no labels; expected @classLabel true <label> ...")
    return tuple(labels)


def _header(path: str, lines: Iterator[tuple[int, str]]) -> tuple[_Header, int]:
    """The header fields and the line number of `@data`; `lines` is left at the first case."""
    header: _Header = {}
    for number, line in lines:
        if not line.startswith("@"):
            raise _error(path, number, f"{line[:40]!r} before @data; expected header lines starting with '@' "
                                       "or comments starting with '#' or '%'")
        tag, text = (line[1:].split(None, 1) + ["", ""])[:2]
        tag = tag.lower()
        if tag == "data":
            return header, number
        if tag not in _TAGS:
            raise _error(path, number, f"unknown header tag '@{tag}'; expected one of {', '.join(_TAGS.values())} "
                                       "or @data")
        if tag == "problemname":
            continue
        if tag in header:
            raise _error(path, number, f"{_TAGS[tag]} repeated (first on line {header[tag][1]}); expected it once")
        header[tag] = (_value(path, number, tag, text.strip()), number)
    raise ValueError(f"{path}: no @data line; expected header lines, then @data, then one case per line")


def _check_header(path: str, header: _Header, data_line: int) -> None:
    """Refuse what the header declares but this reader does not support."""
    for tag, refused, message in (("timestamps", True, "time stamps are not supported; expected @timeStamps false"),
                                  ("equallength", False, "unequal-length series are not supported; expected "
                                                         "@equalLength true")):
        if tag in header and header[tag][0] is refused:
            raise _error(path, header[tag][1], f"{_TAGS[tag]} {str(refused).lower()}: {message}")
    if "classlabel" not in header:
        raise _error(path, data_line, "no @classLabel header before @data; expected @classLabel true <label> ... "
                                      "(a classification set)")


def _missing_hint(header: _Header) -> str:
    if header.get("missing", (None,))[0] is False:
        return f"expected none, as @missing false (line {header['missing'][1]}) says"
    return "expected none (missing values are not supported)"


def _values(path: str, number: int, index: int, text: str, header: _Header) -> np.ndarray:
    """The values of one dimension of a case, float64; missing, non-numeric or infinite values are errors."""
    values = []
    for position, field in enumerate(text.split(","), start=1):
        where = f"dimension {index}, value {position} ({field.strip()!r})"
        try:
            value = float(field)
        except ValueError:
            if field.strip() == "?":
                raise _error(path, number, f"{where} is missing; {_missing_hint(header)}") from None
            raise _error(path, number, f"{where} is not a number; expected a number") from None
        if math.isnan(value):
            raise _error(path, number, f"{where} is missing; {_missing_hint(header)}")
        if math.isinf(value):
            raise _error(path, number, f"{where} is infinite; expected a finite number")
        values.append(value)
    return np.asarray(values)


def _shape_rules(header: _Header) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(dimension rules, length rules), each (expected count, reason), from the header lines stating them."""
    def stated(tag: str) -> tuple[int, str]:
        value, number = header[tag]
        return value, f"as {_TAGS[tag]} {value} (line {number}) says"

    dimensions = [stated("dimensions")] if "dimensions" in header else []
    if header.get("univariate", (False,))[0]:
        dimensions.append((1, f"as @univariate true (line {header['univariate'][1]}) says"))
    lengths = [stated("serieslength")] if "serieslength" in header else []
    return dimensions, lengths


def parse(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,) str, series (N, T, D) float64) of one `.ts` file of equal-length series.

    Every error names the file and the line; the labels are those of the data,
    each one declared by `@classLabel`.
    """
    with open(path, encoding="utf-8") as f:
        lines = _content(f)
        header, data_line = _header(path, lines)
        _check_header(path, header, data_line)
        declared = header["classlabel"][0]
        dimension_rules, length_rules = _shape_rules(header)
        labels, cases = [], []
        for number, line in lines:
            *dimensions, label = line.split(":")
            label = label.strip()
            if not dimensions:
                raise _error(path, number, f"{line[:40]!r} has no ':'; expected dimensions separated by ':' "
                                           "then the class label")
            if label not in declared:
                raise _error(path, number, f"class label {label!r} is not declared by @classLabel (line "
                                           f"{header['classlabel'][1]}); expected one of {list(declared)}")
            case = [_values(path, number, index, text, header) for index, text in enumerate(dimensions, start=1)]
            if not cases:
                dimension_rules.append((len(case), f"like the first case (line {number})"))
                length_rules.append((len(case[0]), f"like the first case (line {number}); unequal lengths "
                                                   "are not supported"))
            for count, reason in dimension_rules:
                if len(case) != count:
                    raise _error(path, number, f"{len(case)} dimension(s); expected {count} {reason}")
            for index, values in enumerate(case, start=1):
                for length, reason in length_rules:
                    if len(values) != length:
                        raise _error(path, number, f"dimension {index} has length {len(values)}; expected "
                                                   f"{length} {reason}")
            labels.append(label)
            cases.append(case)
    if not cases:
        raise ValueError(f"{path}: no cases after @data (line {data_line}); expected one case per line")
    return np.asarray(labels, dtype=str), np.asarray(cases, dtype=np.float64).transpose(0, 2, 1)
