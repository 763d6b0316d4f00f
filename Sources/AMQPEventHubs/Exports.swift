// Event Hubs' wire vocabulary (EventPosition, SharedAccessSignature, EventHubsConnectionString,
// EventHubsNames) lives in AMQPEventHubsProtocol so that the emulator can share it without the
// client. Those types are part of this client's API, so `import AMQPEventHubs` brings them too.
@_exported import AMQPEventHubsProtocol
