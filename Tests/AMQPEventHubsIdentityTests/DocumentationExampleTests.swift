import AMQPEventHubs
import AMQPEventHubsIdentity
import Testing

/// The README's Entra ID example, as a region (AMQPDocumentationTests checks that the README's
/// block equals it). Making the client asks for no token: it connects on first use.
@Suite("Documentation examples: Entra ID")
struct IdentityDocumentationExampleTests {
    @Test("the README's client for a namespace with DefaultAzureCredential")
    func defaultCredentialClient() throws {
        // snippet: entra id client
        let tokens = EntraIDTokenProvider(DefaultAzureCredential())  // or ClientSecretCredential(tenantID:clientID:clientSecret:)
        let client = EventHubsClient(
            endpoint: EventHubsEndpoint(fullyQualifiedNamespace: "myns.servicebus.windows.net", eventHubName: "telemetry"),
            credential: .tokenProvider(tokens))
        // snippet end
        #expect(client.eventHubName == "telemetry")
        #expect(client.endpoint.fullyQualifiedNamespace == "myns.servicebus.windows.net")
    }
}
