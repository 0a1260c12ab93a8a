"""Offline evaluation of self-supervised encoders (``simclr-eval``).

Protocols (each stated in the reports next to its numbers):

- linear probe on frozen features: multinomial logistic regression, L-BFGS, lambda
  chosen on a validation split (:func:`linear_probe`);
- weighted kNN on cosine similarity, k = 20 / 200, T = 0.1 (:func:`knn_evaluate`);
- fine-tuning with 1% / 10% / 100% of the labels (:func:`finetune`, :func:`label_subset`);
- the transfer suite over the thesis Table 4 datasets plus STL-10, DTD and any
  ImageFolder, with raw-pixel and random-encoder floors (:func:`run_suite`,
  :func:`evaluate_checkpoint`);
- the classifier comparison: linear probe and a small MLP on raw pixels,
  embeddings, PCA and t-SNE of the embeddings (:func:`classifier_comparison`);
- reports and the cross-run comparison table (:func:`write_report`, :func:`compare_runs`).

Example:
    >>> from simclr.evaluate import EvalSettings, evaluate_checkpoint
    >>> s = EvalSettings(datasets=["synthetic"], protocols=("linear", "knn"))
    >>> report = evaluate_checkpoint("runs/synthetic_simclr", s)  # doctest: +SKIP
"""

from simclr.evaluate.classifiers import classifier_comparison, fit_mlp
from simclr.evaluate.features import (
    FeatureCache,
    LoadedEncoder,
    Preprocess,
    RawPixels,
    extract_features,
    file_hash,
    load_encoder,
    random_encoder,
)
from simclr.evaluate.finetune import FinetuneSettings, finetune, label_subset
from simclr.evaluate.knn import knn_evaluate, knn_scores
from simclr.evaluate.linear import LinearClassifier, fit_logistic_regression, linear_probe
from simclr.evaluate.metrics import (
    classification_summary,
    confusion_matrix,
    macro_f1,
    mean_per_class_accuracy,
    per_class_metrics,
    topk_accuracy,
)
from simclr.evaluate.report import compare_reports, compare_runs, load_report, write_report
from simclr.evaluate.suite import (
    TABLE4_DATASETS,
    TRANSFER_DATASETS,
    EvalSettings,
    evaluate_checkpoint,
    evaluate_dataset,
    run_suite,
)

__all__ = [
    "TABLE4_DATASETS",
    "TRANSFER_DATASETS",
    "EvalSettings",
    "FeatureCache",
    "FinetuneSettings",
    "LinearClassifier",
    "LoadedEncoder",
    "Preprocess",
    "RawPixels",
    "classification_summary",
    "classifier_comparison",
    "compare_reports",
    "compare_runs",
    "confusion_matrix",
    "evaluate_checkpoint",
    "evaluate_dataset",
    "extract_features",
    "file_hash",
    "finetune",
    "fit_mlp",
    "fit_logistic_regression",
    "knn_evaluate",
    "knn_scores",
    "label_subset",
    "linear_probe",
    "load_encoder",
    "load_report",
    "macro_f1",
    "mean_per_class_accuracy",
    "per_class_metrics",
    "random_encoder",
    "run_suite",
    "topk_accuracy",
    "write_report",
]
