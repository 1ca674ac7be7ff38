package io.vswitch.vm.vhost;

/** A front-end request this back-end refuses, with the event it is counted under. */
final class BadRequest extends Exception {
    final VhostEvent event;

    BadRequest(VhostEvent event, String message) {
        super(message);
        this.event = event;
    }
}
