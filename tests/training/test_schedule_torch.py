"""Learning-rate schedules against torch's own schedulers, stepped once per epoch as torchvision's
reference train.py steps them (SequentialLR of the warm-up and the main scheduler)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jaxcnn.training import schedule  # noqa: E402

EPOCHS, PER_EPOCH, PEAK = 12, 7, 0.5


def torchvision_rates(warmup, main, warmup_epochs) -> list[float]:
    """The rate of each epoch under torchvision's ``SequentialLR([warmup, main], [warmup_epochs])``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    scheduler = torch.optim.lr_scheduler.SequentialLR(opt, [warmup(opt), main(opt)], milestones=[warmup_epochs])
    rates = []
    for _ in range(EPOCHS):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


lr_scheduler = torch.optim.lr_scheduler
CASES = {  # (jaxcnn schedule keywords, torch warm-up, torch main scheduler)
    # ResNet-50 IMAGENET1K_V2: --lr-warmup-method linear --lr-warmup-decay 0.01, cosine after
    "linear-cosine": (
        {"name": "cosine", "warmup_epochs": 3, "warmup_method": "linear", "start_factor": 0.01},
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=3),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS - 3),
    ),
    # --lr-warmup-method constant, then StepLR(step_size=5), counted from the warm-up's end
    "constant-step": (
        {"name": "step", "warmup_epochs": 2, "warmup_method": "constant", "start_factor": 0.1, "milestones": (0.5,)},
        lambda o: lr_scheduler.ConstantLR(o, factor=0.1, total_iters=2),
        lambda o: lr_scheduler.StepLR(o, step_size=5, gamma=0.1),
    ),
    # ExponentialLR: x gamma each epoch
    "linear-exponential": (
        {"name": "exponential", "warmup_epochs": 1, "start_factor": 0.2, "decay_steps": PER_EPOCH, "gamma": 0.9},
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=1),
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_schedules_stepped_per_epoch_are_torchvisions(case):
    keywords, warmup, main = CASES[case]
    keywords = dict(keywords)
    name, warmup_epochs = keywords.pop("name"), keywords.pop("warmup_epochs")
    expected = torchvision_rates(warmup, main, warmup_epochs)
    rate = schedule(name, PEAK, EPOCHS * PER_EPOCH, warmup_epochs * PER_EPOCH, steps_per_epoch=PER_EPOCH, **keywords)
    got = [[float(rate(epoch * PER_EPOCH + k)) for k in range(PER_EPOCH)] for epoch in range(EPOCHS)]
    np.testing.assert_allclose(got, np.repeat(np.array(expected)[:, None], PER_EPOCH, axis=1), rtol=1e-6, atol=1e-9)
