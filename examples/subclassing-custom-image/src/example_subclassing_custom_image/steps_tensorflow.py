"""The custom loop's step on TensorFlow: `tf.GradientTape` in a compiled `tf.function`.

Every part of a step is written out: the forward pass, the loss averaged over
the global batch, the gradients, the update, and the metrics. Change any of it
(several losses, gradient clipping, a second model) right here.
"""

import tensorflow as tf

from . import distribute, steps


class Steps(steps.Steps):
    """Steps that tf.distribute runs on each replica of the strategy."""

    def __init__(self, setup, config):
        super().__init__(setup, config)
        model, optimizer, strategy = self.model, self.optimizer, setup.strategy
        loss_fn, metrics = self.loss_fn, self.metrics
        self.strategy = strategy

        # Each replica's step, compiled as fit compiles its own: with XLA or not.
        @tf.function(jit_compile=setup.jit_compile)
        def train_step(inputs, labels):
            with tf.GradientTape() as tape:
                probabilities = model(inputs, training=True)
                per_example_loss = loss_fn(labels, probabilities)
                # Averaged over the global batch: each replica adds its share.
                loss = tf.nn.compute_average_loss(per_example_loss)
                # Scaled up under mixed_float16 (a LossScaleOptimizer), else
                # unchanged; apply_gradients unscales the gradients.
                scaled_loss = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled_loss, model.trainable_variables)
            optimizer.apply_gradients(
                zip(gradients, model.trainable_variables, strict=True)
            )
            metrics["loss"].update_state(per_example_loss)
            metrics["accuracy"].update_state(labels, probabilities)

        @tf.function(jit_compile=setup.jit_compile)
        def validation_step(inputs, labels):
            probabilities = model(inputs, training=False)
            metrics["val_loss"].update_state(loss_fn(labels, probabilities))
            metrics["val_accuracy"].update_state(labels, probabilities)

        # Each step reads its batch inside the compiled function, as fit's
        # does: no Python between the input pipeline and the step. One trace
        # serves every batch, the last partial one included.
        @tf.function
        def distributed_train_step(batches):
            strategy.run(train_step, args=next(batches))
            return {key: metrics[key].result() for key in self.PROGRESS}

        @tf.function
        def distributed_validation_step(batches):
            strategy.run(validation_step, args=next(batches))

        self.train = distributed_train_step
        self.validate = distributed_validation_step

    def batches(self, dataset):
        """An iterator over the global batches, each split across the replicas."""
        return iter(distribute.distribute(self.strategy, dataset))
