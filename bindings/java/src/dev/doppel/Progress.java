package dev.doppel;

import java.util.OptionalDouble;

/**
 * Training progress, reported after each optimisation step.
 *
 * @param epoch the epoch, from 1
 * @param step the step within the epoch, from 1
 * @param stepsPerEpoch steps per epoch
 * @param loss the training loss reported at this step (nats per token)
 * @param epsilon the privacy budget spent so far under differential privacy; empty without
 *     it, and on the steps where the library does not compute it (it does at the end of
 *     each epoch)
 */
public record Progress(long epoch, long step, long stepsPerEpoch, double loss,
        OptionalDouble epsilon) {}
