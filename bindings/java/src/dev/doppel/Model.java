package dev.doppel;

import java.nio.file.Path;

/**
 * A trained model. Generation only reads it: any number of threads may call
 * {@link #generate} at once. {@link #close} waits for calls in flight; using a closed model
 * throws {@link IllegalStateException}.
 */
public final class Model implements AutoCloseable {
    private final Handle handle;

    Model(long address) {
        handle = new Handle(address, Native::modelFree, "model");
    }

    /**
     * Generates synthetic rows into a file whose format follows its extension ({@code .csv},
     * {@code .parquet}, {@code .arrow}); the file appears only once complete. The same seed
     * gives the same rows.
     *
     * @param rows how many rows, at least 0
     * @param seed the random seed (all 64 bits are used)
     * @param path the output file
     * @throws DoppelException when the file cannot be written
     */
    public void generate(long rows, long seed, Path path) {
        if (rows < 0) {
            throw new IllegalArgumentException("rows must not be negative, got " + rows);
        }
        byte[] file = Native.cPath(path, "path");
        handle.accept(model -> Native.generateFile(model, rows, seed, file));
    }

    /**
     * Saves the model to a file (written to a temporary file, then renamed).
     *
     * @param path the model file
     * @throws DoppelException when the file cannot be written
     */
    public void save(Path path) {
        byte[] file = Native.cPath(path, "path");
        handle.accept(model -> Native.modelSave(model, file));
    }

    /**
     * Serialises the model, for {@link Doppel#modelFromBytes}.
     *
     * @return the model's bytes
     */
    public byte[] toBytes() {
        return handle.apply(Native::modelToBytes);
    }

    /** Releases the model once calls in flight are done; idempotent. */
    @Override
    public void close() {
        handle.close();
    }
}
