"""Quantization options: the names users write <-> the squant.v1 messages."""

import dataclasses
import re
from typing import Any, Dict

from ._proto import quantization_pb2 as pb
from .errors import invalid_argument

# The core's spellings (core/squant.h ModeName / GridName), as squant-cli takes them.
MODES = {
    "squant": pb.MODE_SQUANT,
    "squant-k": pb.MODE_SQUANT_K,
    "squant-c": pb.MODE_SQUANT_C,
    "squant-e": pb.MODE_SQUANT_E,
}
GRIDS = {"asymmetric": pb.GRID_ASYMMETRIC, "symmetric": pb.GRID_SYMMETRIC}
MODE_NAMES = {value: name for name, value in MODES.items()}
GRID_NAMES = {value: name for name, value in GRIDS.items()}
DTYPES = {"F32": pb.DTYPE_F32, "F16": pb.DTYPE_F16, "BF16": pb.DTYPE_BF16}
MAX_PACKED_BITS = 4  # two values per byte

_OVERRIDE_KEYS = ("bits", "mode", "grid", "pack")


def _lookup(table, value, what, where):
    try:
        return table[value]
    except KeyError:
        raise invalid_argument(
            f"{where}: unknown {what} {value!r} (expected one of {', '.join(table)})") from None


def quantization_options(where, bits=None, mode=None, grid=None, pack=None):
    """A QuantizationOptions message; None leaves a field unset (inherit)."""
    options = pb.QuantizationOptions()
    if bits is not None:
        if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0:
            raise invalid_argument(f"{where}: bits must be a positive integer, got {bits!r}")
        options.bits = bits  # the range is the server's to check: it knows its limits
    if mode is not None:
        options.mode = _lookup(MODES, mode, "mode", where)
    if grid is not None:
        options.grid = _lookup(GRIDS, grid, "grid", where)
    if pack is not None:
        options.pack = bool(pack)
    return options


@dataclasses.dataclass(frozen=True)
class ModelSettings:
    """The options of one quantize() call (what save_safetensors records).

    overrides: {name or regular expression: {"bits", "mode", "grid", "pack"}}.
    A tensor takes the entry whose key equals its name, else the first entry
    (in the mapping's order) whose key, as a regular expression, is found in
    its name (re.search, as squant-cli's --bits_override does). Keys left out
    of an entry inherit the defaults. `pack`, as squant-cli's --pack, packs
    only the tensors that end up with at most 4 bits.
    """

    bits: int = 4
    mode: str = "squant"
    grid: str = "asymmetric"
    pack: bool = False
    overrides: Dict[str, Dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "overrides", dict(self.overrides or {}))
        if self.pack and self.bits > MAX_PACKED_BITS:
            raise invalid_argument(
                f"options: pack needs bits <= {MAX_PACKED_BITS}, got {self.bits}")
        self.model_options()
        patterns = []
        for key, settings in self.overrides.items():
            where = f"override {key!r}"
            unknown = set(settings) - set(_OVERRIDE_KEYS)
            if unknown:
                raise invalid_argument(f"{where}: unknown keys {sorted(unknown)} "
                                       f"(expected {', '.join(_OVERRIDE_KEYS)})")
            quantization_options(where, **settings)
            try:
                patterns.append((re.compile(key), settings))
            except re.error as error:
                raise invalid_argument(f"{where}: bad regular expression: {error}") from None
        object.__setattr__(self, "_patterns", patterns)

    def model_options(self):
        return pb.ModelOptions(defaults=quantization_options(
            "options", bits=self.bits, mode=self.mode, grid=self.grid, pack=self.pack))

    def override_for(self, name):
        """The settings dict that applies to tensor `name` ({} if none)."""
        if name in self.overrides:
            return self.overrides[name]
        for pattern, settings in self._patterns:
            if pattern.search(name):
                return settings
        return {}

    def layer_overrides(self, name):
        """The LayerHeader.overrides message for tensor `name`."""
        settings = dict(self.override_for(name))
        bits = settings.get("bits", self.bits)
        if self.pack and "pack" not in settings and bits > MAX_PACKED_BITS:
            settings["pack"] = False
        return quantization_options(f"tensor '{name}'", **settings)
