import json

import pytest

from hyperbox.kernel import Categorical, FloatRange, IntRange, SearchSpace, Subset, find_mutables, load_arch, save_arch
from hyperbox.kernel.testing import ToyMutable, ToySpace


@pytest.mark.parametrize(
    "domain, value, expected",
    [
        (Categorical(3), 1, 1),
        (Categorical(3), [0, 0, 1], 2),
        (Categorical(3), [False, True, False], 1),
        (Subset(4, 2), [0, 1, 1, 0], (1, 2)),
        (Subset(4, 2), [3, 0], (0, 3)),
        (Subset(3), [1, 1, 1], (0, 1, 2)),
        (Subset(2), (0, 1), (0, 1)),  # a tuple is canonical: indices, never a mask
        (Subset(1), (0,), (0,)),
        (IntRange(2, 10, step=2), 6, 6),
        (IntRange(2, 10), 4.0, 4),
        (FloatRange(0.1, 1.0), 0.5, 0.5),
    ],
)
def test_normalize_accepts_every_mask_format(domain, value, expected):
    assert domain.normalize(value, "k") == expected


@pytest.mark.parametrize(
    "domain, value, message",
    [
        (Categorical(3), [0, 1], "length 2, expected 3"),
        (Categorical(3), [1, 1, 0], "one-hot"),
        (Categorical(3), 3, "out of range"),
        (Categorical(3), "a", "index or a one-hot"),
        (Subset(4, 2), [1, 0, 0, 0], "1 inputs chosen, expected 2"),
        (Subset(4, 2), [5, 1], "indices below 4"),
        (IntRange(2, 10, step=2), 5, "not in range"),
        (FloatRange(0.1, 1.0), 2.0, "outside"),
    ],
)
def test_bad_decisions_name_the_key(domain, value, message):
    with pytest.raises(ValueError, match=message) as error:
        domain.normalize(value, "my_key")
    assert "'my_key'" in str(error.value)


def test_samples_lie_in_the_domain():
    import random

    rng = random.Random(0)
    for domain in (Categorical(5), Subset(5, 2), Subset(5), IntRange(-3, 9, step=3), FloatRange(1e-4, 1, log=True)):
        for _ in range(50):
            sample = domain.sample(rng)
            assert domain.normalize(sample if not isinstance(domain, Subset) else list(sample)) == sample


def test_mutable_mask_forms_and_shared_keys(tmp_path):
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(json.dumps({"op": [0, 1, 0]}))
    assert ToyMutable("op", Categorical(3), mask=[0, 0, 1]).decision == 2
    assert ToyMutable("op", Categorical(3), mask={"op": [1, 0, 0], "other": 4}).decision == 0
    assert ToyMutable("op", Categorical(3), mask=str(arch_file)).decision == 1
    assert ToyMutable("op", Categorical(3), mask=[0, 1, 0]).mask == [0, 1, 0]
    with pytest.raises(ValueError, match="'op'.*no entry"):
        ToyMutable("op", Categorical(3), mask={"other": [1, 0, 0]})


def test_search_space_groups_shared_keys_and_rejects_mismatches():
    a, b = ToyMutable("op", Categorical(3)), ToyMutable("op", Categorical(3))
    space = SearchSpace([a, b, ToyMutable("depth", IntRange(1, 4))])
    assert list(space) == ["op", "depth"]
    space.apply({"op": 2, "depth": 3})
    assert a.decision == b.decision == 2
    with pytest.raises(ValueError, match="'op'.*different candidates"):
        SearchSpace([a, ToyMutable("op", Categorical(4))])
    with pytest.raises(ValueError, match="'op'.*different candidates"):
        SearchSpace([ToyMutable("op", Categorical(2, labels=(3, 5))), ToyMutable("op", Categorical(2, labels=(3, 7)))])


def test_validate_reports_unknown_and_missing_keys():
    space = SearchSpace([ToyMutable("op", Categorical(3)), ToyMutable("depth", IntRange(1, 4))])
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['width'\]"):
        space.validate({"op": 1, "depth": 2, "width": 3})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['depth'\]"):
        space.validate({"op": 1})
    assert space.validate({"op": 1}, partial=True) == {"op": 1}


def test_architecture_round_trips_through_json(tmp_path):
    space = SearchSpace(
        [ToyMutable("op", Categorical(3)), ToyMutable("in", Subset(4, 2)), ToyMutable("lr", FloatRange(0.1, 1))]
    )
    arch = space.validate({"op": [0, 0, 1], "in": [0, 1, 0, 1], "lr": 0.25})
    save_arch(tmp_path / "a.json", arch, space)
    loaded = load_arch(tmp_path / "a.json")
    assert loaded == {"op": 2, "in": [0, 1, 0, 1], "lr": 0.25}
    assert space.validate(loaded) == arch


def test_load_arch_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_arch(bad)
    with pytest.raises(ValueError, match="No such file"):
        load_arch(tmp_path / "missing.json")


class _Module:
    """A duck-typed module tree (no torch needed)."""

    def __init__(self, children):
        self.children = children

    def named_modules(self):
        yield "", self
        for name, child in self.children.items():
            yield name, child


def test_find_mutables_keys_unnamed_mutables_by_path():
    unnamed, named = ToyMutable(None, Categorical(2)), ToyMutable("x", Categorical(2))
    found = find_mutables(_Module({"block.0.op": unnamed, "other": named, "plain": object()}))
    assert found == [unnamed, named]
    assert unnamed.key == "block.0.op"
    assert find_mutables(ToySpace([named])) == [named]


def test_attached_mutables_are_searched_with_the_model():
    from hyperbox.kernel.space import attach_mutables

    own, extra = ToyMutable("op", Categorical(2)), ToyMutable("trainer.lr", FloatRange(0.01, 0.1))
    model = _Module({"op": own})
    attach_mutables(model, [extra])
    assert find_mutables(model) == [own, extra]
    assert list(SearchSpace.of(model)) == ["op", "trainer.lr"]


def test_size_counts_the_architectures_of_a_finite_space():
    def space(*domains):
        return SearchSpace([ToyMutable(f"k{i}", d) for i, d in enumerate(domains)])

    # 3 categorical x C(4, 2) inputs x any non-empty subset of 3 x 1, 3, 5, 7, 9
    assert space(Categorical(3), Subset(4, 2), Subset(3), IntRange(1, 9, step=2)).size() == 3 * 6 * 7 * 5
    assert space(Categorical(3), FloatRange(0.0, 1.0)).size() is None


def conditional_space():
    """A depth of 1-3 layers, each with a width; layer 2's width is found before the depth."""

    def layer(index, domain):
        mutable = ToyMutable(f"width{index}", domain)
        if index:  # layer `index` exists when the depth (1, 2 or 3 layers) exceeds it
            mutable.conditions = (("depth", frozenset(range(index, 3))),)
        return mutable

    width = Categorical(2, labels=(8, 16))
    return SearchSpace([layer(2, width), ToyMutable("depth", Categorical(3, labels=(1, 2, 3))), layer(0, width)])


def test_a_key_comes_after_the_keys_its_conditions_name():
    space = conditional_space()
    assert space.conditional
    assert list(space) == ["depth", "width2", "width0"]
    assert not SearchSpace([ToyMutable("op", Categorical(2))]).conditional


def test_inactive_decisions_are_neither_shown_nor_required():
    space = conditional_space()
    shallow = {"depth": 0, "width0": 1}  # one layer: layer 2's width does not matter
    assert space.active(shallow) == ["depth", "width0"]
    assert space.validate(shallow) == {"depth": 0, "width0": 1, "width2": 0}  # the default fills it
    assert space.values_of({**shallow, "width2": 1}) == {"depth": 1, "width0": 16}
    assert space.active_only({**shallow, "width2": 1}) == shallow
    deep = {"depth": 2, "width0": 1}
    assert space.active(deep) == ["depth", "width2", "width0"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['width2'\]"):
        space.validate(deep)


def test_a_condition_on_an_unknown_key_is_an_error():
    mutable = ToyMutable("width", Categorical(2))
    mutable.conditions = (("depth", frozenset({1})),)
    with pytest.raises(ValueError, match="mutable 'width': its condition names 'depth', not in the space"):
        SearchSpace([mutable])


def test_a_subset_of_at_most_m_inputs():
    import random as stdlib_random

    domain = Subset(5, most=2)
    rng = stdlib_random.Random(0)
    sizes = {len(domain.sample(rng)) for _ in range(200)}
    assert sizes == {1, 2}
    assert domain.normalize([1, 0, 0, 1, 0]) == (0, 3)
    with pytest.raises(ValueError, match="3 chosen, at most 2"):
        domain.normalize([0, 1, 2])
    assert domain.describe() == "subset(5 choose at most 2)"
    assert SearchSpace([ToyMutable("s", domain)]).size() == 5 + 10
    assert domain.keep([0, 2, 4], preference=[4, 3, 2, 1, 0]) == (2, 4)
    with pytest.raises(ValueError, match="most=6 must be between 1 and n=5"):
        Subset(5, most=6)
