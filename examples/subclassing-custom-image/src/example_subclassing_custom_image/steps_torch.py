"""The custom loop's step on PyTorch: `loss.backward()`, then `optimizer.apply`.

As in Keras's guide to a training loop from scratch in PyTorch: the model
runs eagerly, autograd fills each weight's `.grad`, and the Keras optimizer
updates the weights with no gradient being recorded.
"""

import torch
from keras import ops

from . import steps


class Steps(steps.Steps):
    """Eager PyTorch steps on the model's own variables."""

    def train(self, batches) -> dict[str, float]:
        model, metrics = self.model, self.metrics
        inputs, labels = (ops.convert_to_tensor(array) for array in next(batches))
        probabilities = model(inputs, training=True)
        per_example_loss = self.loss_fn(labels, probabilities)
        loss = ops.mean(per_example_loss)
        model.zero_grad()
        loss.backward()
        variables = model.trainable_weights
        gradients = [variable.value.grad for variable in variables]
        with torch.no_grad():
            self.optimizer.apply(gradients, variables)
            metrics["loss"].update_state(per_example_loss)
            metrics["accuracy"].update_state(labels, probabilities)
        return self.results(*self.PROGRESS)

    @torch.no_grad()
    def validate(self, batches) -> None:
        inputs, labels = (ops.convert_to_tensor(array) for array in next(batches))
        probabilities = self.model(inputs, training=False)
        self.metrics["val_loss"].update_state(self.loss_fn(labels, probabilities))
        self.metrics["val_accuracy"].update_state(labels, probabilities)
