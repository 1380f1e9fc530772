"""A composable chain of preprocessing steps."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..spectrum import Spectrum
from ..errors import ConfigError
from .result import Preprocessed, PreprocessedBatch, as_spectrum, initial_state

Step = Callable[[Preprocessed], Preprocessed]


class Pipeline:
    """Apply ``steps`` in order to a spectrum and return a :class:`Preprocessed`.

    >>> from spectool.preprocess import Pipeline, steps
    >>> p = Pipeline([steps.RepairBadPixels(), steps.Crop(4000, 9000), steps.MinMax(), steps.Pad(3584)])
    >>> x = p(spec)                     # Spectrum, (2, L) array or (wavelength, flux)
    >>> p2 = p.then(my_step)            # pipelines compose; each step is any callable on Preprocessed

    >>> b = p.batch(wave, flux_2d, ivar_2d, mask_2d)   # N spectra on one grid -> PreprocessedBatch

    The input is validated first (NaN/inf flux, all-zero ivar, non-monotonic
    wavelength raise :class:`~spectool.errors.InvalidSpectrumError` naming the
    file, or the row of a batch), and the output is cast to float32 at the end.
    A batch runs the same step implementations (:meth:`Step.batch
    <spectool.preprocess.steps.Step.batch>`) as a single spectrum.
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

    def batch(self, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
              mask: np.ndarray | None = None, redshift: np.ndarray | float | None = None) -> PreprocessedBatch:
        """Apply the steps to every row of ``flux`` (N, L) on the shared vacuum grid ``wavelength`` (L,)
        Angstrom, with optional ``ivar`` / ``mask`` (N, L) and catalogue ``redshift`` (N,) (NaN = unknown)."""
        return self.run_batch(PreprocessedBatch.from_arrays(wavelength, flux, ivar, mask, redshift))

    def run_batch(self, state: PreprocessedBatch) -> PreprocessedBatch:
        """Apply the steps to an existing batch state (no validation) and finalise it.

        Every step needs a ``batch`` method (the built-in steps have one); a plain
        callable on :class:`Preprocessed` raises :class:`~spectool.errors.ConfigError`.
        """
        for step in self.steps:
            run = getattr(step, "batch", None)
            if run is None:
                raise ConfigError(f"step {step!r} works on one spectrum only (no .batch method); "
                                  "run the pipeline spectrum by spectrum")
            state = run(state)
        return state.finalize(self.name)

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
