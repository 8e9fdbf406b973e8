"""An LSTM keyword spotter after Zhang et al. 2017 ("Hello Edge"), 12 Speech Commands classes.

49 frames × 40 MFCC-like features (1 s of audio, 40 ms windows every 20 ms) → one LSTM layer
of 128 units → the last step's hidden state → a fully connected classifier (10 words, silence,
unknown). The paper's LSTM variants differ in size and use a projection; this one has none.
"""

from torch import Tensor, nn

from pytest_mobiledl.modelspec import ModelSpec
from pytest_mobiledl.tensors import TensorSpec

FRAMES, FEATURES, UNITS, CLASSES = 49, 40, 128, 12


class KeywordLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, UNITS, batch_first=True)
        self.classifier = nn.Linear(UNITS, CLASSES)

    def forward(self, features: Tensor) -> Tensor:
        steps, _ = self.lstm(features)
        return self.classifier(steps[:, -1])


def build() -> nn.Module:
    return KeywordLSTM()


MODEL = ModelSpec("kws_lstm", "audio", (TensorSpec("input", (1, FRAMES, FEATURES)),), build)
