"""The hooks a shoebox plugin implements, and the type each hook yields.

A plugin is a module (or any object) with functions marked by :data:`hookimpl`, named after the
methods of :class:`ShoeboxSpec`. Each hook takes no argument and returns (or yields) the
:class:`Strategy` objects the plugin offers for one kind of strategy (:mod:`._kinds` describes
each kind), or :class:`Subcommand` objects. A distribution makes its plugin known by an entry
point in the ``shoebox`` group::

    [project.entry-points.shoebox]
    myplugin = "my_package.plugin"

Installed is not active: discovery registers every installed plugin, and a pipeline uses only the
strategies its configuration names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import argparse

__all__ = ["PROJECT", "ShoeboxSpec", "Strategy", "Subcommand", "hookimpl"]

#: The pluggy project name, the entry-point group and the prefix of every hook.
PROJECT = "shoebox"

#: Marks a function of a plugin as the implementation of the hook of the same name.
hookimpl = pluggy.HookimplMarker(PROJECT)

# Kept private: only the core declares hooks.
_hookspec = pluggy.HookspecMarker(PROJECT)


@dataclass(frozen=True)
class Strategy:
    """One strategy a plugin offers: what a configuration calls it, how to build it, what it does.

    :param name: the name a configuration file uses (``"size"``, ``"gzip"``); unique within its kind
        across every installed distribution. No whitespace and no ``:`` (that marks an import path).
    :param factory: called with the configured options as keyword arguments (strings from a config
        file, or Python values) and returns the strategy object. Usually the class itself.
    :param summary: one line for ``shoebox plugins`` listings.
    """

    name: str
    factory: Callable[..., Any]
    summary: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a strategy name must be a non-empty string, got {self.name!r}")
        if ":" in self.name or any(ch.isspace() for ch in self.name):
            raise ValueError(f"strategy name {self.name!r} must not contain ':' or whitespace")
        if not callable(self.factory):
            raise TypeError(f"strategy {self.name!r}: factory {self.factory!r} is not callable")
        if not isinstance(self.summary, str):
            raise TypeError(f"strategy {self.name!r}: summary must be a string")


@dataclass(frozen=True)
class Subcommand:
    """A ``shoebox`` subcommand a plugin distribution adds (as conda's ``CondaSubcommand``).

    :param name: the word after ``shoebox`` (``"store"``); lowercase letters, digits and ``-``,
        and neither a built-in command nor a name another distribution offers.
    :param summary: one line for ``shoebox --help`` and ``shoebox plugins``.
    :param action: called with the parsed :class:`argparse.Namespace`; returns the exit status
        (``None`` means 0). Errors of the core (:class:`~shoebox_core.errors.ShoeboxError`) and
        ``OSError`` are turned into the usual one-line message and exit status by the command.
    :param configure_parser: called with the subcommand's own :class:`argparse.ArgumentParser`
        to add its arguments (and subcommands of its own); optional.
    """

    name: str
    summary: str
    action: Callable[[argparse.Namespace], int | None]
    configure_parser: Callable[[argparse.ArgumentParser], None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", self.name):
            raise ValueError(
                f"a subcommand name must be lowercase letters, digits and '-', got {self.name!r}"
            )
        if not callable(self.action):
            raise TypeError(f"subcommand {self.name!r}: action {self.action!r} is not callable")
        if self.configure_parser is not None and not callable(self.configure_parser):
            raise TypeError(f"subcommand {self.name!r}: configure_parser is not callable")
        if not isinstance(self.summary, str):
            raise TypeError(f"subcommand {self.name!r}: summary must be a string")


class ShoeboxSpec:
    """The hook specifications of the ``shoebox`` project.

    Every hook takes no parameters and returns (or yields) what the plugin offers, possibly
    nothing. None is first-result: every registered plugin is asked, and the plugin manager
    gathers and attributes what each one returns. Nothing outside
    :mod:`shoebox_core.plugin._manager` calls these hooks; use the manager's ``create_*`` methods.
    The kinds they gather are described in :mod:`shoebox_core.plugin._kinds`.
    """

    @_hookspec
    def shoebox_roll_checkers(self) -> Iterable[Strategy]:
        """Offer roll checkers: objects that decide when the active archive is sealed.

        A roll checker has ``start(archive)``, ``check(archive) -> bool`` and, for rules that
        depend on time, ``seconds_left(archive) -> float | None`` (see
        :class:`shoebox_core.write.checkers.RollChecker`). Its factory takes keyword arguments only,
        accepts numeric strings for numeric options and a ``clock=`` keyword.

        No parameters; not first-result. Returns :class:`Strategy` objects. Example::

            @hookimpl
            def shoebox_roll_checkers():
                yield Strategy("lines", LineRollChecker, "Roll after N lines of text.")
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_namers(self) -> Iterable[Strategy]:
        """Offer namers: objects that give an archive its in-progress and final file names
        (see :class:`shoebox_core.plugin.Namer`).

        No parameters; not first-result. Returns :class:`Strategy` objects. Example::

            @hookimpl
            def shoebox_namers():
                return [Strategy("uuid", UuidNamer, "Name archives by a random UUID.")]
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_callbacks(self) -> Iterable[Strategy]:
        """Offer archive callbacks, run when an archive is opened (``on_open(filename)``) or
        sealed (``on_close(filename)``): compression, moving, changing the extension, deleting...
        The order in which callbacks run comes from the configuration, never from the order in
        which plugins were registered.

        No parameters; not first-result. Returns :class:`Strategy` objects. Example::

            @hookimpl
            def shoebox_callbacks():
                yield Strategy("chmod", ChmodCallback, "Set the mode of sealed archives.")
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_transfers(self) -> Iterable[Strategy]:
        """Offer remote transfers: strategies that copy sealed archives to remote storage and
        verify the copy (size and checksum) before the local file may be deleted. The core ships
        the generic ``fsspec`` transfer; ``shoebox-s3`` and ``shoebox-swift`` add theirs.

        No parameters; not first-result. Returns :class:`Strategy` objects. Example::

            @hookimpl
            def shoebox_transfers():
                yield Strategy("s3", S3Transfer, "Upload sealed archives to an S3 bucket.")
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_subcommands(self) -> Iterable[Subcommand]:
        """Offer subcommands of the ``shoebox`` command, listed by ``shoebox --help`` and
        ``shoebox plugins`` (conda's ``conda_subcommands`` is the model). A name that is a
        built-in command, or that two distributions offer, is refused: the command reports the
        conflict and leaves that name out.

        No parameters; not first-result. Returns :class:`Subcommand` objects. Example::

            def _hello(args):
                print(f"hello {args.who}")
                return 0

            @hookimpl
            def shoebox_subcommands():
                yield Subcommand("hello", "Say hello.", _hello,
                                 lambda parser: parser.add_argument("who"))
        """
        raise NotImplementedError
