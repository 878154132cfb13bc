import numpy as np

from neuroforge.tools.router.features import FEATURE_DIM, featurize, text_features

PREAMBLE = ("You are a careful assistant. Read the examples and answer in the same style. "
            * 40)


def test_long_prompts_sharing_a_preamble_stay_apart() -> None:
    a = PREAMBLE + "Question: what is the boiling point of water at sea level?"
    b = PREAMBLE + "Question: who wrote the novel Pride and Prejudice?"
    features = featurize([a, b])
    assert features.shape == (2, FEATURE_DIM)
    head, tail = features[:, :384], features[:, 384:768]
    # The first window is the same preamble; the last window carries the question.
    assert float(head[0] @ head[1]) > 0.99
    assert float(tail[0] @ tail[1]) < 0.9


def test_short_prompt_head_equals_tail_and_cache(tmp_path) -> None:
    features = featurize(["What is 2 + 2?"], cache_dir=tmp_path)
    assert np.allclose(features[0, :384], features[0, 384:768])
    assert len(list(tmp_path.glob("features-v1-*.npy"))) == 1
    assert np.array_equal(featurize(["What is 2 + 2?"], cache_dir=tmp_path), features)


def test_text_features_spot_code_and_math() -> None:
    code = text_features("```python\ndef f(x):\n    return x\n```")
    math = text_features("Solve the equation 3 + 4 = x")
    plain = text_features("Tell me about whales")
    assert code[2] > 0 and math[3] > 0 and plain[2] == plain[3] == 0


def test_progress_is_reported_while_embedding_and_not_on_a_cache_hit(tmp_path) -> None:
    calls: list[tuple[int, int]] = []
    prompts = [f"Question number {i}: what is {i} squared?" for i in range(5)]
    first = featurize(prompts, cache_dir=tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(5, 5)]
    again = featurize(prompts, cache_dir=tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(5, 5)] and np.array_equal(first, again)  # read from disk, not embedded
    assert not list(tmp_path.glob("*.partial.npy"))
