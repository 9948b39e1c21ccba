"""Figures from outside jaxcnn that the tests compare against; the names of the torchvision
models appear in the tests only here, as the keys of torchvision's own counts."""

# torchvision's parameter counts (sum of p.numel() over model.parameters()), num_classes=1000.
TORCHVISION_PARAMS = {
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,
    "inception_v3": 23_834_568,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
TORCHVISION_PARAMS_WITH_AUX = {"googlenet": 13_004_888, "inception_v3": 27_161_264}
# torchvision's model pages list "GFLOPS" that are multiply-accumulates of conv and linear layers:
# (input size, GMACs).
TORCHVISION_GMACS = {
    "vgg16": (224, 15.470),
    "googlenet": (224, 1.498),
    "resnet18": (224, 1.814),
    "resnet50": (224, 4.089),
    "inception_v3": (299, 5.713),
}
# He et al. 2015 (table 6) and He et al. 2016 (table 3), CIFAR-10 (num_classes=10), in millions.
PAPER_PARAMS_M = {
    "resnet20": 0.27,
    "resnet32": 0.46,
    "resnet44": 0.66,
    "resnet56": 0.85,
    "resnet110": 1.7,
    "resnet1202": 19.4,
    "preact_resnet164": 1.7,
    "preact_resnet1001": 10.2,
}
