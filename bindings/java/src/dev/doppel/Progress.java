package dev.doppel;

import java.util.OptionalDouble;

/**
 * Training progress, reported after each optimisation step.
 *
 * @param epoch the epoch, from 1
 * @param step the step within the epoch, from 1
 * @param stepsPerEpoch steps per epoch
 * @param loss the training loss reported at this step (nats per token)
 * @param epsilon under differential privacy, the epsilon spent as of the last completed
 *     epoch (the library accounts once per epoch; 0 during the first); empty without it
 */
public record Progress(long epoch, long step, long stepsPerEpoch, double loss,
        OptionalDouble epsilon) {}
