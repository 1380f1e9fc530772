"""A composable chain of preprocessing steps."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..spectrum import Spectrum
from .result import Preprocessed, as_spectrum, initial_state

Step = Callable[[Preprocessed], Preprocessed]


class Pipeline:
    """Apply ``steps`` in order to a spectrum and return a :class:`Preprocessed`.

    >>> from spectool.preprocess import Pipeline, steps
    >>> p = Pipeline([steps.RepairBadPixels(), steps.Crop(4000, 9000), steps.MinMax(), steps.Pad(3584)])
    >>> x = p(spec)                     # Spectrum, (2, L) array or (wavelength, flux)
    >>> p2 = p.then(my_step)            # pipelines compose; each step is any callable on Preprocessed

    The input is validated first (NaN/inf flux, all-zero ivar, non-monotonic
    wavelength raise :class:`~spectool.errors.InvalidSpectrumError` naming the
    file), and the output is cast to float32 at the end.
    """

    def __init__(self, steps: Sequence[Step], name: str = "custom", options: dict[str, Any] | None = None) -> None:
        self.steps = list(steps)
        self.name = name
        self.options = dict(options or {})

    def __call__(self, spec: Spectrum | np.ndarray | tuple, *, wavelength: np.ndarray | None = None,
                 ivar: np.ndarray | None = None, mask: np.ndarray | None = None) -> Preprocessed:
        state = initial_state(as_spectrum(spec, wavelength=wavelength, ivar=ivar, mask=mask))
        return self.run(state)

    def run(self, state: Preprocessed) -> Preprocessed:
        """Apply the steps to an existing state (no validation) and finalise it."""
        for step in self.steps:
            state = step(state)
        return state.finalize()

    def then(self, *steps: Step) -> "Pipeline":
        """A new pipeline with ``steps`` appended."""
        return Pipeline(self.steps + list(steps), name=f"{self.name}+", options=self.options)

    def __add__(self, other: "Pipeline") -> "Pipeline":
        return Pipeline(self.steps + other.steps, name=f"{self.name}+{other.name}", options=self.options)

    def to_dict(self) -> dict[str, Any]:
        """Recipe name, options and steps (for ``info.json`` and model cards)."""
        return {"name": self.name, "options": dict(self.options), "steps": [str(s) for s in self.steps]}

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}: " + " -> ".join(str(s) for s in self.steps) + ")"
