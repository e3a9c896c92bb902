"""The compiled per-example squared-gradient kernel against its definition in torch."""

import pytest
import torch

from fute.engine.methods import kernels


@pytest.fixture(scope="module")
def kernel():
    k = kernels.square_grad_kernel()
    assert k is not None, "the Fisher kernel did not build (is a C compiler installed?)"
    return k


def reference(total, e, a, lengths):
    out = total.clone()
    for b, n in enumerate(lengths.tolist()):
        g = e[b, :n].T @ a[b, :n]
        out += g * g
    return out


# odd sizes: rows not a multiple of the 6-row tile, columns not a multiple of the 64-column
# tile, examples of different lengths (padding after them must be ignored), length 0
@pytest.mark.parametrize(
    "b,t,out,inp", [(5, 7, 13, 70), (3, 1, 6, 64), (4, 9, 1, 3), (2, 12, 40, 200)]
)
def test_kernel_matches_definition(kernel, b, t, out, inp):
    gen = torch.Generator().manual_seed(out * inp)
    e, a = torch.randn(b, t, out, generator=gen), torch.randn(b, t, inp, generator=gen)
    lengths = torch.randint(0, t + 1, (b,), generator=gen)
    lengths[0] = t
    e[1:, -1] = 1e6  # garbage in padded positions must not leak in
    a[1:, -1] = 1e6
    lengths[1:] = lengths[1:].clamp(max=t - 1)
    start = torch.rand(out, inp, generator=gen)  # the kernel adds to what is there
    got = start.clone()
    kernel(got, e, a, lengths)
    torch.testing.assert_close(got, reference(start, e, a, lengths), rtol=1e-5, atol=1e-5)


def test_kernel_result_does_not_depend_on_thread_count(kernel):
    gen = torch.Generator().manual_seed(0)
    e, a = torch.randn(8, 20, 384, generator=gen), torch.randn(8, 20, 384, generator=gen)
    lengths = torch.full((8,), 20)
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            total = torch.zeros(384, 384)
            kernel(total, e, a, lengths)
            results.append(total)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(results[0], r) for r in results[1:])


def test_kernel_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("FUTE_FISHER_KERNEL", "0")
    assert kernels.square_grad_kernel() is None


def test_wrong_shapes_are_refused(kernel):
    with pytest.raises(ValueError, match="out x in"):
        kernel(torch.zeros(3, 4), torch.zeros(1, 2, 4), torch.zeros(1, 2, 3), torch.tensor([2]))
