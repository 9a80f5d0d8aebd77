package dev.doppel;

/**
 * A training configuration. Immutable once created, so one may serve several trainings at
 * once; close it when done (a closed one throws {@link IllegalStateException} when used).
 */
public final class Config implements AutoCloseable {
    private final Handle handle;

    private Config(long address) {
        handle = new Handle(address, Native::configFree, "config");
    }

    /**
     * The default training configuration.
     *
     * @return a new configuration
     */
    public static Config defaults() {
        return new Config(Native.configDefault());
    }

    /**
     * A configuration from JSON with the keys of the CLI's configuration file, every key
     * optional, e.g. {@code {"training": {"max_epochs": 2}}}.
     *
     * @param json the configuration
     * @return a new, validated configuration
     * @throws DoppelException {@link Status#INVALID_CONFIG}, naming the bad key
     */
    public static Config fromJson(String json) {
        return new Config(Native.configFromJson(Native.cString(json, "json")));
    }

    /** The native handle, for {@link Doppel#train}. */
    Handle handle() {
        return handle;
    }

    /** Releases the configuration, after any training that uses it; idempotent. */
    @Override
    public void close() {
        handle.close();
    }
}
