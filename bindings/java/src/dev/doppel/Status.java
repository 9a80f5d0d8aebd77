package dev.doppel;

/** What a library call did: mirrors {@code DoppelStatus}, with the same numeric codes. */
public enum Status {
    /** Success. */
    OK(0),
    /** A required argument was missing (the message names it). */
    NULL_PARAMETER(1),
    /** An argument is out of range or not valid UTF-8 (the message names it). */
    INVALID_ARGUMENT(2),
    /** The training configuration is invalid (the message names the key). */
    INVALID_CONFIG(3),
    /** A file could not be read or written. */
    IO(4),
    /** The input data is malformed (the message names the file, row and column). */
    INVALID_DATA(5),
    /** A model file or buffer is not a usable doppel model. */
    INVALID_MODEL(6),
    /** The progress listener asked to stop. */
    CANCELLED(7),
    /** Anything else that went wrong inside the library. */
    INTERNAL(8),
    /** A bug: the library panicked. The message says where. */
    PANIC(9);

    private final int code;

    Status(int code) {
        this.code = code;
    }

    /**
     * The numeric value of {@code DoppelStatus}.
     *
     * @return the code, stable across library versions
     */
    public int code() {
        return code;
    }

    /**
     * The status for a numeric code.
     *
     * @param code a {@code DoppelStatus} value
     * @return its status; {@link #INTERNAL} for a code newer than these bindings (the library
     *     only ever appends codes)
     */
    public static Status fromCode(int code) {
        for (Status status : values()) {
            if (status.code == code) {
                return status;
            }
        }
        return INTERNAL;
    }
}
