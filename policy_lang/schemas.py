"""Tool schemas: bounded reads of schema files and every `$ref` resolved at load (spec §4.2, v1.1).

A tool's schema and every document its `$ref`s reach are read when the policy loads, into a
`referencing` registry that has no retriever: the validators built from it can never fetch
anything while deciding (no file, no network). A `$ref` may point inside the schema itself (a
JSON pointer, an anchor, an `$id` it declares) or to a regular `*.json` file below the folder of
the policy file that declares the schema; anything else (http, https, an unknown urn, `file://`
outside that folder, `../`, a link escaping it, a device, a FIFO, a missing file) is a load error.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional, Tuple
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

from .loader import MAX_FILE_BYTES, read_regular, reason_of

SCHEMA_SUFFIX = ".json"
# keywords whose string value is a reference to another (sub)schema
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


@dataclass
class SchemaProblem:
    """One load error about a schema: its code and message (the span is the `schema` line)."""
    code: str
    message: str
    help: Optional[str] = None


@dataclass
class SchemaSet:
    """A tool's schema with every document it references, ready to build validators from."""
    uri: str                                   # the base URI of the tool's schema
    registry: Any                              # referencing.Registry, without a retriever
    documents: List[Any] = field(default_factory=list)   # referenced files' values, in reading order
    # every reference is a fragment (`#/$defs/x`, `#anchor`) or an absolute URI: the schema needs
    # no base URI, so its validator is built on it directly (one `$ref` hop less per validation)
    direct: bool = False


def _spec() -> Any:
    from referencing.jsonschema import DRAFT202012
    return DRAFT202012


def _resource(value: Any) -> Any:
    from referencing import Resource
    return Resource.from_contents(value, default_specification=_spec())


def _refs(resource: Any, base: str) -> Iterator[Tuple[str, str]]:
    """(base URI, reference) for every reference keyword in a resource and its subschemas, with the
    base URI each one is resolved against (an `$id` on the way changes it, as the validator sees)."""
    rid = resource.id()
    if rid is not None:
        base = urljoin(base, rid)
    contents = resource.contents
    if isinstance(contents, dict):
        for key in REF_KEYWORDS:
            ref = contents.get(key)
            if isinstance(ref, str):
                yield base, ref
    for sub in resource.subresources():
        yield from _refs(sub, base)


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive on Windows
        return False


def resolve(value: Any, uri: str, folder: str, declared_in: str,
            parse: Callable[[str, str], Any]) -> Tuple[Optional[SchemaSet], List[SchemaProblem]]:
    """Resolve every `$ref` of the schema `value`, whose base URI is `uri`, reading only regular
    `*.json` files below `folder` (real paths); `declared_in` names the policy file for messages.
    `parse(text, shown_name)` turns a file's text into a checked schema value or raises
    SchemaProblemError. Returns the set, or None and the problems."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource, Unresolvable

    registry = Registry().with_resource(uri, _resource(value)).crawl()
    folder = os.path.realpath(folder)
    problems: List[SchemaProblem] = []
    documents: List[Any] = []
    pending = list(_refs(_resource(value), uri))
    seen: List[Tuple[str, str]] = []
    refused = set()
    while pending:
        base, ref = pending.pop(0)
        seen.append((base, ref))
        if urlsplit(ref).scheme.lower() == "file" or ref.startswith(("/", "\\")):
            # a file is named by a path relative to the schema that refers to it, never by a
            # `file:` URL or an absolute path (wherever it points): a policy's schemas move with it
            problems.append(SchemaProblem("E403", f"schema `$ref` `{ref}` names a file by a URL or an "
                                                  f"absolute path", _help(declared_in)))
            continue
        target = urldefrag(urljoin(base, ref)).url if not ref.startswith("#") else base
        try:
            registry.get_or_retrieve(target)
            continue                                  # inside the schema, or a file already read
        except NoSuchResource:
            pass
        if target in refused:
            continue
        refused.add(target)
        problem, loaded = _load_ref(ref, target, folder, declared_in, parse)
        if problem is not None:
            problems.append(problem)
            continue
        registry = registry.with_resource(target, _resource(loaded)).crawl()
        documents.append(loaded)
        pending.extend(_refs(_resource(loaded), target))
    if problems:
        return None, problems
    for base, ref in seen:
        # every reference must land somewhere: a pointer to nowhere or a missing anchor is a load error
        try:
            registry.resolver(base_uri=base).lookup(ref)
        except Unresolvable as e:
            problems.append(SchemaProblem(
                "E404", f"schema `$ref` `{ref}` does not resolve: {_unresolvable(e)}",
                help="a `$ref` names a `$defs` entry as `#/$defs/NAME`, an anchor as `#NAME`, "
                     "or a file with an optional fragment, as `common.json#/$defs/NAME`"))
    if problems:
        return None, problems
    direct = not documents and all(ref.startswith("#") or urlsplit(ref).scheme for _, ref in seen)
    return SchemaSet(uri, registry, documents, direct), []


def _unresolvable(e: Exception) -> str:
    from referencing.exceptions import NoSuchAnchor, PointerToNowhere
    if isinstance(e, PointerToNowhere):
        return "the JSON pointer points to nothing"
    if isinstance(e, NoSuchAnchor):
        return "no such anchor"
    return "no such document"


def _help(declared_in: str) -> str:
    return (f"a `$ref` may name a `{SCHEMA_SUFFIX}` file in the folder of `{declared_in}` or below it, "
            f"by a relative path (as `\"$ref\": \"common.json\"`); copy a remote schema there")


def _load_ref(ref: str, target: str, folder: str, declared_in: str,
              parse: Callable[[str, str], Any]) -> Tuple[Optional[SchemaProblem], Any]:
    """The value of the file `target` names, or the problem with it."""
    help_text = _help(declared_in)
    parts = urlsplit(target)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query:
        return SchemaProblem("E403", f"schema `$ref` `{ref}` is not a file below the policy's folder "
                                     f"(remote and unknown references are never fetched)", help_text), None
    path = os.path.normpath(url2pathname(unquote(parts.path)))
    real = os.path.realpath(path)
    if not (_inside(path, folder) and _inside(real, folder)):
        return SchemaProblem("E403", f"schema `$ref` `{ref}` is outside the folder of the policy "
                                     f"that declares the schema", help_text), None
    if not (path.endswith(SCHEMA_SUFFIX) and real.endswith(SCHEMA_SUFFIX)):
        return SchemaProblem("E403", f"schema `$ref` `{ref}` does not name a `{SCHEMA_SUFFIX}` file",
                             help_text), None
    shown = os.path.relpath(path, folder).replace(os.sep, "/")
    try:
        text = read_regular(path, MAX_FILE_BYTES).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        reason = "not valid UTF-8" if isinstance(e, UnicodeDecodeError) else reason_of(e)
        return SchemaProblem("E400", f"cannot read schema `{shown}` (the `$ref` `{ref}`): {reason}",
                             help="`$ref` paths are relative to the schema that holds them"), None
    try:
        return None, parse(text, shown)
    except SchemaProblemError as e:
        return e.problem, None


class SchemaProblemError(Exception):
    """Raised by a `parse` callback: the file is not a valid schema."""

    def __init__(self, problem: SchemaProblem):
        super().__init__(problem.message)
        self.problem = problem


def build_validator(value: Any, schemas: Optional[SchemaSet]) -> Any:
    """A jsonschema validator for `value` whose references resolve only through the preloaded
    registry (draft 2020-12 unless `$schema` says otherwise). The root is reached through a
    `$ref` to its own base URI, so relative references resolve against the file it came from.
    Where jsonschema-rs is installed and agrees with jsonschema on this schema, it answers "valid?"
    first (`fastschema`); messages are always jsonschema's."""
    import jsonschema
    from .fastschema import faster
    cls = jsonschema.validators.validator_for(value, default=jsonschema.Draft202012Validator)
    if schemas is None:
        from referencing import Registry
        return Guarded(faster(cls(value, registry=Registry()), value))
    if schemas.direct:
        return Guarded(faster(cls(value, registry=schemas.registry), value, schemas.documents))
    return Guarded(faster(cls({"$ref": schemas.uri}, registry=schemas.registry), value, schemas.documents))


def _gave_up(e: BaseException) -> None:
    if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise e
    # a `$ref` cycle that never reaches the instance recurses without end; where Python's limit is hit inside
    # a Rust extension (rpds, under jsonschema's `referencing`), it comes back as pyo3's PanicException, a
    # BaseException that `except Exception` guards miss: it is the RecursionError it began as
    raise RecursionError("the schema validator gave up: a schema that refers to itself without end?") from None


def _quick(fast_is_valid: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`DualValidator.quick` in one call, guarded: True when jsonschema-rs says valid (that answer
    stands), False when jsonschema must be asked (rs's "invalid", or a lone surrogate no Rust string holds)."""
    def quick(instance: Any) -> bool:
        try:
            return fast_is_valid(instance)
        except ValueError:
            return False
        except Exception:
            raise
        except BaseException as e:
            _gave_up(e)
            raise
    return quick


class Guarded:
    """A schema validator whose failures below Python come back as RecursionError, which every caller (the
    engine's fail-closed guard, the replay, the reference interpreter) already turns into a deny; anything
    else is the wrapped validator's own. `quick` is set when jsonschema-rs is in front (else None): what the
    engine's hot path calls first."""

    def __init__(self, inner: Any):
        self.inner = inner
        fast = getattr(inner, "fast", None)       # a DualValidator's jsonschema-rs validator
        self.quick: Optional[Callable[[Any], bool]] = None if fast is None else _quick(fast.is_valid)

    def is_valid(self, instance: Any) -> bool:
        """The wrapped validator's verdict."""
        try:
            return bool(self.inner.is_valid(instance))
        except Exception:
            raise
        except BaseException as e:
            _gave_up(e)
            raise

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        """The wrapped validator's errors."""
        try:
            yield from self.inner.iter_errors(instance)
        except Exception:
            raise
        except BaseException as e:
            _gave_up(e)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
