/// Hand-written code next to the generated types: they are ordinary Swift types of this module.
extension Reading: CustomStringConvertible {
    public var description: String { "\(sensorID)=\(value) \(unit.rawValue)" }
}
