"""The hooks a shoebox plugin implements, and the type each hook yields.

A plugin is a module (or any object) with functions marked by :data:`hookimpl`, named after the
methods of :class:`ShoeboxSpec`. Each hook takes no argument and returns (or yields) the
:class:`Strategy` objects the plugin offers for one kind of strategy. A distribution makes its
plugin known by an entry point in the ``shoebox`` group::

    [project.entry-points.shoebox]
    myplugin = "my_package.plugin"

Installed is not active: discovery registers every installed plugin, and a pipeline uses only the
strategies its configuration names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

import pluggy

__all__ = ["HOOK_BY_KIND", "KINDS", "PROJECT", "ShoeboxSpec", "Strategy", "hookimpl"]

#: The pluggy project name, the entry-point group and the prefix of every hook.
PROJECT = "shoebox"

#: Marks a function of a plugin as the implementation of the hook of the same name.
hookimpl = pluggy.HookimplMarker(PROJECT)

# Kept private: only the core declares hooks.
_hookspec = pluggy.HookspecMarker(PROJECT)

#: The kinds of strategy, each gathered by one hook (see ``HOOK_BY_KIND``).
KINDS = ("roll_checker", "namer", "callback", "transfer")

#: The hook that gathers the strategies of each kind.
HOOK_BY_KIND = {
    "roll_checker": "shoebox_roll_checkers",
    "namer": "shoebox_namers",
    "callback": "shoebox_callbacks",
    "transfer": "shoebox_transfers",
}


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


class ShoeboxSpec:
    """The hook specifications of the ``shoebox`` project.

    None of the hooks is first-result: every registered plugin is asked, and the plugin manager
    gathers and attributes what each one returns. Nothing outside
    :mod:`shoebox_core.plugins` calls these hooks; use the manager's ``create_*`` methods.
    """

    @_hookspec
    def shoebox_roll_checkers(self) -> Iterable[Strategy]:
        """Offer roll checkers: objects that decide when the active archive is sealed.

        A roll checker has ``start(archive)``, ``check(archive) -> bool`` and, for rules that
        depend on time, ``seconds_left(archive) -> float | None`` (see
        :class:`shoebox_core.roll_checker.RollChecker`). Its factory takes keyword arguments only,
        accepts numeric strings for numeric options and a ``clock=`` keyword.

        Takes no parameters. Not first-result: every plugin's strategies are gathered.

        :returns: the :class:`Strategy` objects this plugin offers (may be empty).

        Example::

            @hookimpl
            def shoebox_roll_checkers():
                yield Strategy("lines", LineRollChecker, "Roll after N lines of text.")
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_namers(self) -> Iterable[Strategy]:
        """Offer namers: objects that give an archive its in-progress and final file names.

        Takes no parameters. Not first-result: every plugin's strategies are gathered.

        :returns: the :class:`Strategy` objects this plugin offers (may be empty).

        Example::

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

        Takes no parameters. Not first-result: every plugin's strategies are gathered.

        :returns: the :class:`Strategy` objects this plugin offers (may be empty).

        Example::

            @hookimpl
            def shoebox_callbacks():
                yield Strategy("chmod", ChmodCallback, "Set the mode of sealed archives.")
        """
        raise NotImplementedError

    @_hookspec
    def shoebox_transfers(self) -> Iterable[Strategy]:
        """Offer remote transfers: strategies that copy sealed archives to remote storage and
        verify the copy (size and checksum) before the local file may be deleted.

        The core ships the generic ``fsspec`` transfer; ``shoebox-s3`` and ``shoebox-swift`` add
        theirs.

        Takes no parameters. Not first-result: every plugin's strategies are gathered.

        :returns: the :class:`Strategy` objects this plugin offers (may be empty).

        Example::

            @hookimpl
            def shoebox_transfers():
                yield Strategy("s3", S3Transfer, "Upload sealed archives to an S3 bucket.")
        """
        raise NotImplementedError
