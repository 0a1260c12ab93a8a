"""Metrics against scikit-learn and hand-computed cases."""

import pytest
import torch
from sklearn import metrics as skm

from simclr.evaluate.metrics import (
    classification_summary,
    confusion_matrix,
    macro_f1,
    mean_per_class_accuracy,
    per_class_metrics,
    topk_accuracy,
)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_and_per_class_table_match_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    c = 7
    y = torch.randint(0, c - 1, (200,), generator=g)  # class 6 never occurs in y ...
    p = torch.where(torch.rand(200, generator=g) < 0.6, y, torch.randint(0, c, (200,), generator=g))
    p[p == 5] = 4  # ... and class 5 is never predicted
    yn, pn = y.numpy(), p.numpy()
    assert macro_f1(y, p, c) == pytest.approx(skm.f1_score(yn, pn, average="macro"), abs=1e-12)
    prec, rec, f1, sup = skm.precision_recall_fscore_support(
        yn, pn, labels=list(range(c)), zero_division=0
    )
    m = per_class_metrics(confusion_matrix(y, p, c))
    torch.testing.assert_close(m.precision, torch.tensor(prec, dtype=torch.float64))
    torch.testing.assert_close(m.recall, torch.tensor(rec, dtype=torch.float64))
    torch.testing.assert_close(m.f1, torch.tensor(f1, dtype=torch.float64))
    assert m.support.tolist() == sup.tolist()
    assert mean_per_class_accuracy(y, p, c) == pytest.approx(
        skm.balanced_accuracy_score(yn, pn), abs=1e-12
    )
    assert (
        confusion_matrix(y, p, c).tolist()
        == skm.confusion_matrix(yn, pn, labels=list(range(c))).tolist()
    )


def test_summary_table_matches_sklearn_report():
    y = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    scores = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 1, 2, 0, 2]), 3).float()
    s = classification_summary(scores, y, ["a", "b", "c"])
    ref = skm.classification_report(
        y.numpy(), scores.argmax(1).numpy(), target_names=["a", "b", "c"], output_dict=True
    )
    for row in s["per_class"]:
        r = ref[row["class"]]
        assert row["precision"] == pytest.approx(r["precision"])
        assert row["recall"] == pytest.approx(r["recall"])
        assert row["f1"] == pytest.approx(r["f1-score"])
        assert row["support"] == r["support"]
    assert s["macro_f1"] == pytest.approx(ref["macro avg"]["f1-score"])
    assert s["top1"] == pytest.approx(ref["accuracy"])


def test_top5_hand_case():
    # 6 classes; sample 0: label ranked 5th (in top-5), sample 1: ranked 6th (not),
    # sample 2: ranked 1st.
    scores = torch.tensor(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.1],  # label 4 -> rank 5
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.1],  # label 5 -> rank 6
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],  # label 2 -> rank 1
        ]
    )
    labels = torch.tensor([4, 5, 2])
    assert topk_accuracy(scores, labels, 5) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 6) == 1.0
    assert topk_accuracy(scores[:, :3], torch.tensor([0, 1, 2]), 5) == 1.0  # k > C


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="labels must lie in"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="scores must be"):
        topk_accuracy(torch.zeros(3, 2), torch.zeros(2).long())
    with pytest.raises(ValueError, match="class_names has 2"):
        classification_summary(torch.zeros(2, 3), torch.zeros(2).long(), ["a", "b"])
