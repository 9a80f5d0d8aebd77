package dev.doppel;

import java.nio.charset.StandardCharsets;

/** A failed library call: its {@link Status}, numeric code and the library's message. */
public final class DoppelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The raw code, kept apart from {@link #status} for codes newer than these bindings. */
    private final int code;

    /**
     * A failure with the library's status code and message.
     *
     * @param code the {@code DoppelStatus} value
     * @param message the library's message ({@code doppel_last_error})
     */
    public DoppelException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** Called by the JNI shim, which hands the message over as UTF-8 bytes. */
    DoppelException(int code, byte[] message) {
        this(code, new String(message, StandardCharsets.UTF_8));
    }

    /**
     * What went wrong, by kind.
     *
     * @return the status of the failed call
     */
    public Status status() {
        return Status.fromCode(code);
    }

    /**
     * The numeric status code exactly as the library returned it.
     *
     * @return the {@code DoppelStatus} value
     */
    public int code() {
        return code;
    }
}
