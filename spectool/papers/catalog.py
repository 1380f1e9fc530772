"""The figure catalog (``shared/docs/figure-catalog.md``): one entry per paper figure or
table id, naming the drawing function, its caption and the step that computes its input.

Functions are named after the ids (``mspc-fig4`` -> ``mspc_fig4``, ``mspc-tab8-17`` ->
``mspc_tab8_17``). Figures return a :class:`matplotlib.figure.Figure`, tables a
:class:`~spectool.papers.Table`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .mspc import (mspc_fig1, mspc_fig4, mspc_fig5, mspc_fig6, mspc_fig7, mspc_fig8, mspc_fig9, mspc_tab1,
                   mspc_tab2, mspc_tab3, mspc_tab4, mspc_tab5, mspc_tab6, mspc_tab7, mspc_tab8_17, mspc_tab18)
from .scanet import (sca_fig1, sca_fig2, sca_fig3, sca_fig6, sca_fig7, sca_fig8, sca_tab1, sca_tab2, sca_tab3)
from .spfusion import (spf_fig2, spf_fig3, spf_fig4, spf_fig5, spf_fig6, spf_fig7, spf_fig8, spf_fig9, spf_fig10,
                       spf_tab1, spf_tab2, spf_tab3, spf_tab4, spf_tab5, spf_tab6, spf_tab7)


class CatalogEntry(NamedTuple):
    """``function(result)`` draws the artefact; ``caption`` says what it shows; ``step`` is
    the computation (:data:`spectool.papers.STEPS`) that makes ``result``."""

    function: Callable
    caption: str
    step: str

    @property
    def kind(self) -> str:
        return "table" if "_tab" in self.function.__name__ else "figure"


CATALOG: dict[str, CatalogEntry] = {
    # MSPC-Net (seed 000)
    "mspc-fig1": CatalogEntry(mspc_fig1, "Raw vs z-score-normalised spectrum, LAMOST (left) and SDSS (right).", "spectra"),
    "mspc-tab1": CatalogEntry(mspc_tab1, "The ten datasets: type, name, categories, counts, S/N cut, survey.", "datasets"),
    "mspc-tab2": CatalogEntry(mspc_tab2, "Model design: per stage output size, layers and parameters.", "mspc_design"),
    "mspc-tab3": CatalogEntry(mspc_tab3, "Accuracy and F1 per fold + mean, stellar classes, 4 models.", "mspc_classes"),
    "mspc-tab4": CatalogEntry(mspc_tab4, "Accuracy and F1 per fold + mean, stellar subclasses.", "mspc_subclasses"),
    "mspc-tab5": CatalogEntry(mspc_tab5, "Per-class TP, top-1 FN source and FP target, SSCNN vs MSPC-Net.", "mspc_eval"),
    "mspc-fig4": CatalogEntry(mspc_fig4, "t-SNE of penultimate features, one panel per model.", "mspc_embedding"),
    "mspc-tab6": CatalogEntry(mspc_tab6, "Accuracy and F1 per fold + mean, full classification.", "mspc_full_classification"),
    "mspc-fig5": CatalogEntry(mspc_fig5, "Accuracy vs S/N interval (top) and S/N histogram (bottom), per model.", "mspc_eval"),
    "mspc-tab7": CatalogEntry(mspc_tab7, "Ablations: identity ratio, kernel sets, channels, attention.", "mspc_ablation"),
    "mspc-fig6": CatalogEntry(mspc_fig6, "Training and validation accuracy vs epoch, per model.", "mspc_classes"),
    "mspc-fig7": CatalogEntry(mspc_fig7, "Feature maps of a regular convolution vs the MSPC module, one spectrum.", "mspc_feature_maps"),
    "mspc-fig8": CatalogEntry(mspc_fig8, "Label agreement between two surveys for correct vs incorrect predictions "
                                         "(mock: the same mock stars observed SDSS-like and LAMOST-like).", "mspc_crossmatch"),
    "mspc-fig9": CatalogEntry(mspc_fig9, "A misclassified spectrum with candidate class templates overlaid.", "mspc_misclassified"),
    "mspc-tab8-17": CatalogEntry(mspc_tab8_17, "Full ablation tables per dataset (appendix A).", "mspc_ablation"),
    "mspc-tab18": CatalogEntry(mspc_tab18, "RAC-Net and ConvNeXt at MSPC-Net's size vs originals (appendix B).", "mspc_large"),
    # SPFusion (seed 002)
    "spf-tab1": CatalogEntry(spf_tab1, "Train / validation / test counts per fold.", "spf_splits"),
    "spf-tab2": CatalogEntry(spf_tab2, "Params and MAE(mass), MAE(age): published values and spectool's runs.", "spf_models"),
    "spf-fig2": CatalogEntry(spf_fig2, "Params vs MAE scatter, mass and age panels.", "spf_models"),
    "spf-fig3": CatalogEntry(spf_fig3, "Predicted vs true mass, per model.", "spf_eval"),
    "spf-fig4": CatalogEntry(spf_fig4, "Predicted vs true age, per model.", "spf_eval"),
    "spf-fig5": CatalogEntry(spf_fig5, "MAE(mass) vs S/N in bins of 10, per model.", "spf_eval"),
    "spf-fig6": CatalogEntry(spf_fig6, "MAE(age) vs S/N in bins of 10, per model.", "spf_eval"),
    "spf-tab3": CatalogEntry(spf_tab3, "Ablation: star operator on/off.", "spf_ablation"),
    "spf-tab4": CatalogEntry(spf_tab4, "Ablation: star-fusion kernel size.", "spf_ablation"),
    "spf-tab5": CatalogEntry(spf_tab5, "Ablation: feed-forward ratio.", "spf_ablation"),
    "spf-tab6": CatalogEntry(spf_tab6, "Ablation: attention heads.", "spf_ablation"),
    "spf-tab7": CatalogEntry(spf_tab7, "Ablation: MetaFormer blocks.", "spf_ablation"),
    "spf-fig7": CatalogEntry(spf_fig7, "MAE(mass) vs S/N with and without star fusion.", "spf_star_eval"),
    "spf-fig8": CatalogEntry(spf_fig8, "MAE(age) vs S/N with and without star fusion.", "spf_star_eval"),
    "spf-fig9": CatalogEntry(spf_fig9, "SE channel-attention heatmap: batch x channels (photometric / fused / spectral).", "spf_attention"),
    "spf-fig10": CatalogEntry(spf_fig10, "Spectral-channel attention on the spectrum below 5500 A, weights > 0.5 "
                              "shaded; below it, where the spectrum decides the mass (Integrated Gradients).",
                              "spf_overlay"),
    # SCA-Net (seed 004)
    "sca-fig1": CatalogEntry(sca_fig1, "Training-label histograms: Teff, log g, [Fe/H].", "sca_labels"),
    "sca-fig2": CatalogEntry(sca_fig2, "A spectrum before and after SCA-Net preprocessing.", "spectra"),
    "sca-fig3": CatalogEntry(sca_fig3, "A preprocessed spectrum folded S-wise into a 64 x 64 image.", "spectra"),
    "sca-fig6": CatalogEntry(sca_fig6, "Training and validation loss vs epoch for the five variants.", "sca_variants"),
    "sca-tab1": CatalogEntry(sca_tab1, "MAE and RMSE (mean ± std over runs) per variant.", "sca_variants"),
    "sca-tab2": CatalogEntry(sca_tab2, "Params, FLOPs, latency: MBConv vs standard-conv versions.", "sca_complexity"),
    "sca-fig7": CatalogEntry(sca_fig7, "Predicted vs catalogue values and residual KDE, per parameter.", "sca_eval"),
    "sca-fig8": CatalogEntry(sca_fig8, "Sliding-window perturbation importance vs wavelength, lines marked.", "sca_sliding"),
    "sca-tab3": CatalogEntry(sca_tab3, "MAE comparison with other methods (published values + spectool).", "sca_variants"),
}

#: Catalog rows that name several ids at once.
ALIASES: dict[str, list[str]] = {"spf-tab3..7": [f"spf-tab{k}" for k in range(3, 8)]}


def ids(prefix: str = "") -> list[str]:
    """Catalog ids starting with ``prefix`` (``"mspc"``, ``"spf"``, ``"sca"``), catalog order."""
    return [k for k in CATALOG if k.startswith(prefix)]


__all__ = ["CATALOG", "ALIASES", "CatalogEntry", "ids"]
