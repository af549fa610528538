import numpy as np
import pytest

from jsc_hw.errors import DataError
from jsc_hw.schema import CLASSES, FEATURES, OPENML_CLASSES, Jets, feature_name, label_index, reorder_labels


def test_canonical_orders():
    assert CLASSES == ("g", "q", "w", "z", "t")
    assert len(FEATURES) == 16 and FEATURES[0] == "j_zlogz" and FEATURES[-1] == "j_multiplicity"


def test_openml_label_order_is_converted():
    # OpenML's LabelEncoder order is g,q,t,w,z: its index 2 is a top jet, which is canonical index 4
    openml = np.array([0, 1, 2, 3, 4])
    assert reorder_labels(openml, OPENML_CLASSES).tolist() == [0, 1, 4, 2, 3]
    assert label_index(["g", "W", " t", "z", "q"]).tolist() == [0, 2, 4, 3, 1]
    with pytest.raises(ValueError, match="unknown class label 'h'"):
        label_index(["g", "h"])
    with pytest.raises(ValueError, match="out of range"):
        reorder_labels(np.array([5]), OPENML_CLASSES)


def test_feature_names_accept_openml_spelling():
    assert feature_name("c1_b0_mmdt") == "j_c1_b0_mmdt"
    assert feature_name("J_MASS_MMDT") == "j_mass_mmdt"
    with pytest.raises(DataError, match="j_pt"):
        feature_name("j_pt")


def test_jets_validates_shapes():
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        Jets(np.zeros((3, 15)), np.zeros(3))
    with pytest.raises(ValueError, match="labels of shape"):
        Jets(np.zeros((3, 16)), np.zeros(2))
    assert Jets(np.zeros((2, 16)), np.array([0, 4])).class_counts() == {"g": 1, "q": 0, "w": 0, "z": 0, "t": 1}
