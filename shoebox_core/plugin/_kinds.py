"""The one table of what shoebox knows about each kind of strategy.

Each :class:`KindSpec` says which hook gathers the kind, how messages call it, where a config file
lists it, the protocol its objects implement, a name to show in examples and the names known
distributions offer (so that an unknown name can say what to install). The plugin manager, the
config loader, ``shoebox plugins --kind`` and every error message read this table; nothing else
keeps a list of kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..errors import PluginError
from ._spec import Strategy, Subcommand

if TYPE_CHECKING:
    from ..ship.callbacks import ArchiveCallback
    from ..ship.transfer import Transfer
    from ..write.checkers import RollChecker

__all__ = [
    "CALLBACK",
    "KINDS",
    "NAMER",
    "ROLL_CHECKER",
    "STRATEGY_KINDS",
    "SUBCOMMAND",
    "TRANSFER",
    "KindSpec",
    "Namer",
    "kind_named",
    "kinds_for_section",
]

_T = TypeVar("_T")


class Namer(Protocol):
    """What the writer asks of a namer: the next archive's name. A namer may also offer
    ``regex()`` (a pattern matching every name it makes) and ``next_seq(names)`` (the sequence
    number after the existing ``names``), as :class:`~shoebox_core.write.naming.TemplateNamer`
    does."""

    def name(self, *, when: float, seq: int) -> str:
        """The file name of the archive opened at ``when`` (epoch seconds) as number ``seq``."""
        ...


@dataclass(frozen=True)
class KindSpec(Generic[_T]):
    """One kind of strategy; ``_T`` (for type checkers only) is the protocol of its objects.

    :param name: the kind's name in APIs and listings (``"roll_checker"``).
    :param hook: the hook that gathers offers of this kind (``"shoebox_roll_checkers"``).
    :param label: how messages call one of them (``"roll checker"``).
    :param config_sections: where a pipeline config lists them, as written (``"[[roll]]"``);
        empty for a kind a config never names.
    :param protocol: the import path of what its objects implement (or, for subcommands, of
        the offer itself).
    :param offer: the type the hook yields: :class:`Strategy`, or :class:`Subcommand`.
    :param example: a name of this kind to show in messages (``"size"``).
    :param elsewhere: names users will expect from distributions we know, with the distribution:
        an unknown-name error says what to install.
    """

    name: str
    hook: str
    label: str
    config_sections: tuple[str, ...]
    protocol: str
    offer: type = Strategy
    example: str = ""
    elsewhere: tuple[tuple[str, str], ...] = ()

    @property
    def sections(self) -> tuple[str, ...]:
        """The config sections that list this kind, by key (``"roll"``)."""
        return tuple(section.strip("[]") for section in self.config_sections)

    @property
    def home(self) -> str:
        """Where a config lists this kind: ``"[[on_open]] or [[on_close]]"``."""
        return " or ".join(self.config_sections)

    @property
    def method(self) -> str:
        """The manager's method that builds one: ``"create_roll_checker()"``."""
        return f"create_{self.name}()"


ROLL_CHECKER: KindSpec[RollChecker] = KindSpec(
    "roll_checker", "shoebox_roll_checkers", "roll checker", ("[[roll]]",),
    "shoebox_core.write.checkers:RollChecker", example="size",
    elsewhere=(("time", "shoebox-timecheck"), ("aligned", "shoebox-timecheck"),
               ("idle", "shoebox-timecheck")),
)
NAMER: KindSpec[Namer] = KindSpec(
    "namer", "shoebox_namers", "namer", ("[namer]",), "shoebox_core.plugin:Namer",
    example="template",
)
CALLBACK: KindSpec[ArchiveCallback] = KindSpec(
    "callback", "shoebox_callbacks", "callback", ("[[on_open]]", "[[on_close]]"),
    "shoebox_core.ship.callbacks:ArchiveCallback", example="gzip",
)
TRANSFER: KindSpec[Transfer] = KindSpec(
    "transfer", "shoebox_transfers", "transfer", ("[[on_close]]",),
    "shoebox_core.ship.transfer:Transfer", example="fsspec",
    elsewhere=(("s3", "shoebox-s3"), ("swift", "shoebox-swift")),
)
SUBCOMMAND: KindSpec[Subcommand] = KindSpec(
    "subcommand", "shoebox_subcommands", "subcommand", (),
    "shoebox_core.plugin:Subcommand", offer=Subcommand,
)

#: Every kind, in the order listings and messages use.
KINDS: tuple[KindSpec[Any], ...] = (ROLL_CHECKER, NAMER, CALLBACK, TRANSFER, SUBCOMMAND)
#: The kinds built from options by a factory (every kind but subcommands).
STRATEGY_KINDS: tuple[KindSpec[Any], ...] = tuple(k for k in KINDS if k.offer is Strategy)
_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_named(name: str, *, strategies_only: bool = False) -> KindSpec[Any]:
    """The kind called ``name``; a :class:`PluginError` listing the kinds otherwise."""
    kinds = STRATEGY_KINDS if strategies_only else KINDS
    found = _BY_NAME.get(name)
    if found is None or found not in kinds:
        raise PluginError(
            f"unknown strategy kind {name!r}; the kinds are {', '.join(k.name for k in kinds)}"
        )
    return found


def kinds_for_section(section: str) -> tuple[KindSpec[Any], ...]:
    """The kinds a config section (``"on_close"``) may name, in table order."""
    return tuple(kind for kind in KINDS if section in kind.sections)
