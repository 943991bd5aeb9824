"""The custom loop's step on JAX: pure functions of the state, under `jax.jit`.

`model.stateless_call` runs the model on given variables and returns the new
non-trainable ones (batch-normalization statistics, dropout's seeds);
`jax.value_and_grad` differentiates the loss; `optimizer.stateless_apply`
returns the updated weights and optimizer variables. The state goes through
every step of an epoch and is written back into the model at its end.
"""

import jax
from keras import ops

from . import steps


class Steps(steps.Steps):
    """Steps that thread (trainable, non-trainable, optimizer, metric) state."""

    def __init__(self, setup, config):
        super().__init__(setup, config)
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        mean_loss, accuracy = self.metrics["loss"], self.metrics["accuracy"]
        val_loss, val_accuracy = self.metrics["val_loss"], self.metrics["val_accuracy"]

        def compute_loss(trainable, non_trainable, inputs, labels):
            probabilities, non_trainable = model.stateless_call(
                trainable, non_trainable, inputs, training=True
            )
            per_example_loss = loss_fn(labels, probabilities)
            loss = ops.mean(per_example_loss)
            return loss, (probabilities, per_example_loss, non_trainable)

        grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

        @jax.jit
        def train_step(state, inputs, labels):
            trainable, non_trainable, optimizer_variables, metric_variables = state
            (_, (probabilities, per_example_loss, non_trainable)), gradients = grad_fn(
                trainable, non_trainable, inputs, labels
            )
            trainable, optimizer_variables = optimizer.stateless_apply(
                optimizer_variables, gradients, trainable
            )
            loss_variables, accuracy_variables, *validation = metric_variables
            metric_variables = [
                mean_loss.stateless_update_state(loss_variables, per_example_loss),
                accuracy.stateless_update_state(
                    accuracy_variables, labels, probabilities
                ),
                *validation,
            ]
            return trainable, non_trainable, optimizer_variables, metric_variables

        @jax.jit
        def validation_step(state, inputs, labels):
            trainable, non_trainable, optimizer_variables, metric_variables = state
            probabilities, _ = model.stateless_call(
                trainable, non_trainable, inputs, training=False
            )
            *training, loss_variables, accuracy_variables = metric_variables
            metric_variables = [
                *training,
                val_loss.stateless_update_state(
                    loss_variables, loss_fn(labels, probabilities)
                ),
                val_accuracy.stateless_update_state(
                    accuracy_variables, labels, probabilities
                ),
            ]
            return trainable, non_trainable, optimizer_variables, metric_variables

        self.train_step, self.validation_step = train_step, validation_step
        self.state = None

    def _variables(self):
        """The variables the state holds, in its order."""
        return (
            self.model.trainable_variables,
            self.model.non_trainable_variables,
            self.optimizer.variables,
            [metric.variables for metric in self.metrics.values()],
        )

    def start_epoch(self) -> None:
        super().start_epoch()
        trainable, non_trainable, optimizer_variables, metric_variables = (
            self._variables()
        )
        self.state = (
            [variable.value for variable in trainable],
            [variable.value for variable in non_trainable],
            [variable.value for variable in optimizer_variables],
            [[variable.value for variable in group] for group in metric_variables],
        )

    def train(self, batches) -> dict[str, float]:
        self.state = self.train_step(self.state, *next(batches))
        return self.results(*self.PROGRESS)

    def validate(self, batches) -> None:
        self.state = self.validation_step(self.state, *next(batches))

    def results(self, *names: str) -> dict[str, float]:
        state = dict(zip(self.metrics, self.state[3], strict=True))
        return {
            name: float(self.metrics[name].stateless_result(state[name]))
            for name in names or self.metrics
        }

    def end_epoch(self) -> dict[str, float]:
        """Write the state back into the model's, optimizer's and metrics' variables."""
        trainable, non_trainable, optimizer_variables, metric_variables = (
            self._variables()
        )
        groups = (
            trainable,
            non_trainable,
            optimizer_variables,
            [variable for group in metric_variables for variable in group],
        )
        values = (
            *self.state[:3],
            [value for group in self.state[3] for value in group],
        )
        for variables, group_values in zip(groups, values, strict=True):
            for variable, value in zip(variables, group_values, strict=True):
                variable.assign(value)
        return super().end_epoch()
