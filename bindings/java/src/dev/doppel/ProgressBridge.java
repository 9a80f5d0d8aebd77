package dev.doppel;

import java.util.OptionalDouble;

/**
 * What the JNI shim calls for each progress report. It keeps whatever the listener throws
 * instead of letting it cross the native frames of the library, and cancels training instead;
 * {@link Doppel#train} rethrows it once the library has returned.
 */
final class ProgressBridge {
    private final ProgressListener listener;
    private Throwable failure;

    ProgressBridge(ProgressListener listener) {
        this.listener = listener;
    }

    /** Called from native code; returns whether training goes on. */
    boolean report(long epoch, long step, long stepsPerEpoch, double loss, double epsilon) {
        // The library reports a negative epsilon when training without differential privacy.
        OptionalDouble spent = epsilon < 0 ? OptionalDouble.empty() : OptionalDouble.of(epsilon);
        try {
            return listener.onProgress(new Progress(epoch, step, stepsPerEpoch, loss, spent));
        } catch (Throwable thrown) {
            failure = thrown;
            return false;
        }
    }

    /** What the listener threw, if anything. */
    Throwable failure() {
        return failure;
    }
}
