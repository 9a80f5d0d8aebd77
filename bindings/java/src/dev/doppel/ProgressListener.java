package dev.doppel;

/**
 * Receives training progress and decides whether training goes on.
 *
 * <p>Called on the thread that called {@link Doppel#train}. Returning {@code false} cancels
 * training, which then throws a {@link DoppelException} with {@link Status#CANCELLED}. An
 * exception thrown here also cancels training and is rethrown from {@link Doppel#train}.
 */
@FunctionalInterface
public interface ProgressListener {
    /**
     * Called after each training step.
     *
     * @param progress where training stands
     * @return {@code true} to go on, {@code false} to cancel
     */
    boolean onProgress(Progress progress);
}
