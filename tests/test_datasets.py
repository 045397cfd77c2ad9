import numpy as np
import pytest

from sklearn_curate.datasets import make_faulty_digits, sample_image_crops


@pytest.mark.parametrize("fault", ["foreign", "duplicates", "noisy_duplicates"])
def test_appended_faults_make_up_the_rate(fault):
    b = make_faulty_digits(fault, rate=0.05)
    assert b.is_fault.sum() == round(0.05 * len(b.data))
    assert b.data.shape == (len(b.target), 64) and b.images.shape[1:] == (8, 8)


def test_duplicates_are_exact_copies_and_noisy_ones_are_not():
    b = make_faulty_digits("duplicates")
    copies = np.flatnonzero(b.is_fault)
    assert (b.data[copies] == b.data[b.source[copies]]).all()
    nb = make_faulty_digits("noisy_duplicates")
    diff = nb.data[nb.is_fault] - nb.data[nb.source[nb.is_fault]]
    assert 0.45 < diff.std() < 0.55


def test_label_noise_moves_every_corrupted_label():
    b = make_faulty_digits("label_noise", rate=0.2)
    assert (b.target[b.is_fault] != b.true_target[b.is_fault]).all()
    assert (b.target[~b.is_fault] == b.true_target[~b.is_fault]).all()
    assert b.is_fault.sum() == round(0.2 * 1797)


def test_rotated_changes_images_in_place():
    clean, rot = make_faulty_digits("none"), make_faulty_digits("rotated")
    assert len(rot.data) == len(clean.data)
    changed = (rot.data != clean.data).any(1)
    assert (changed <= rot.is_fault).all() and changed.sum() > 0.95 * rot.is_fault.sum()


def test_same_seed_same_set():
    a, b = (
        make_faulty_digits("foreign", random_state=3),
        make_faulty_digits("foreign", random_state=3),
    )
    assert (a.data == b.data).all()


def test_crops_in_digit_range():
    c = sample_image_crops(20, random_state=0)
    assert c.shape == (20, 8, 8) and c.min() >= 0 and c.max() <= 16


def test_bad_arguments():
    with pytest.raises(ValueError, match="fault='blur'"):
        make_faulty_digits("blur")
    with pytest.raises(ValueError, match="rate=1.0"):
        make_faulty_digits("foreign", rate=1.0)
