"""Interpretability: embeddings, attention capture, overlays, sliding windows, captum.

=====================================  ===============================================
function                               what it gives
=====================================  ===============================================
``extract_features`` / ``embed`` /     penultimate features, t-SNE / UMAP, tidy tables
``embedding_table``                    (MSPC-Net Fig. 4)
``capture_attention`` /                ECA / SE channel weights per sample and layer;
``attention_weights`` /                batch x channel heatmap (SPFusion Fig. 9)
``plot_attention_heatmap``
``attention_overlay``                  channel weights on the spectrum, regions above a
                                       threshold, lines marked (SPFusion Fig. 10)
``receptive_field`` /                  feature position -> input pixels -> wavelength
``analytic_receptive_field``
``sliding_window_importance``          window perturbation importance (SCA-Net Fig. 8)
``attribute``                          captum IG / Saliency / Occlusion / DeepLIFT
``feature_maps`` /                     per-channel activations (MSPC-Net Fig. 7)
``plot_feature_maps``
=====================================  ===============================================

Everything works on model-ready inputs (the output of ``spectool.preprocess``) and
returns values on the model-input wavelength grid (vacuum Angstrom).
"""
from __future__ import annotations

from .attention import (
                        SPFUSION_GROUPS,
                        AttentionRecord,
                        attention_modules,
                        attention_weights,
                        capture_attention,
                        plot_attention_heatmap,
)
from .attributions import Attribution, attribute
from .feature_maps import MSPC_GROUPS, FeatureMap, feature_maps, plot_feature_maps
from .features import FeatureSet, embed, embedding_table, extract_features
from .overlay import AttentionOverlay, attention_overlay
from .receptive import ReceptiveField, analytic_receptive_field, receptive_field
from .sliding import SlidingWindowResult, fill_values, sliding_window_importance, windows

__all__ = [
    "SPFUSION_GROUPS", "MSPC_GROUPS",
    "AttentionRecord", "AttentionOverlay", "Attribution", "FeatureMap", "FeatureSet",
    "ReceptiveField", "SlidingWindowResult",
    "analytic_receptive_field", "attention_modules", "attention_overlay", "attention_weights", "attribute",
    "capture_attention", "embed", "embedding_table", "extract_features", "feature_maps", "fill_values",
    "plot_attention_heatmap", "plot_feature_maps", "receptive_field",
    "sliding_window_importance", "windows",
]
